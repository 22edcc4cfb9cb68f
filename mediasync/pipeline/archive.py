"""Step 4: a verified copy of every file on the NAS.

Stores run a few files ahead of the bookkeeping, `archive.parallel_transfers` at a time
(two for a mounted NAS, more over SFTP where each file waits on round trips). Only the
first file of each content hash is started ahead: its twins are decided once it is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from functools import partial

from mediasync.errors import FileProblem
from mediasync.files import safe_filename
from mediasync.ledger.claims import claim_batches, holding
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.naming import prefixed_name
from mediasync.nas import identity as archive_identity
from mediasync.nas.archive import Archived, ArchiveTarget, NasArchive
from mediasync.pipeline.common import (
    BATCH_FILES,
    ChangeWriter,
    failure,
    plan_row,
    run_ahead,
    take,
)
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.settings import Settings


def input_stages(ctx: RunContext) -> list[Stage]:
    if ctx.settings.pixel_enabled:
        return [Stage.PIXEL_VERIFIED]
    return [Stage.DOWNLOADED, Stage.PIXEL_VERIFIED]


def nas_archive(ctx: RunContext) -> ArchiveTarget:
    return archive_for(ctx.settings)


def archive_for(settings: Settings) -> ArchiveTarget:
    """Over SFTP when `[sftp.archive]` is configured, else the mounted folder."""
    workflow = settings.workflow
    if settings.sftp.archive is not None:
        from mediasync.nas.sftp import SftpArchive

        return SftpArchive(settings.sftp.archive, settings, workflow.archive_layout)
    return NasArchive(settings.resolve(workflow.nas_archive), workflow.archive_layout)


def run(ctx: RunContext) -> StepReport:
    archive = nas_archive(ctx)
    try:
        return _run(ctx, archive)
    finally:
        archive.close()


def _run(ctx: RunContext, archive: ArchiveTarget) -> StepReport:
    report = StepReport(4, "NAS archive")
    # before any write, even with nothing to archive: later steps trust this archive
    identity = archive_identity.ensure(ctx.ledger, archive, ctx.run_id, ctx.dry_run)
    if ctx.dry_run:
        files = take(ctx, input_stages(ctx))
        report.planned = [plan_row(m, f"copy to {archive.target_for(m, _final_name(ctx, m))}")
                          for m in files]
        report.done = len(files)
        report.message = f"would archive {len(files)} files; {identity}"
        return report.finish()
    stored_now: dict[str, MediaFile] = {}  # by content hash: twins within this run
    total, number = _waiting(ctx), 0
    store_ahead = partial(_store_ahead, ctx, archive)
    # claimed batches: workers running this step at once never archive the same file
    with holding(ctx.ledger, ctx.run_id), ChangeWriter(ctx) as changes:
        for files in claim_batches(ctx.ledger, input_stages(ctx), ctx.run_id, BATCH_FILES,
                                   ctx.limit, ctx.settings.ledger.claim_lease_seconds):
            if number == 0:
                archive.check()
            for (media, twin, _), pending in run_ahead(_planned(ctx, files), store_ahead,
                                                       archive.parallel_transfers):
                changes.add(_archive_one(ctx, archive, media, report, stored_now, twin,
                                         pending))
                number += 1
                ctx.progress(number, max(total, number), media.filename)
            changes.flush()  # the batch's moves end its claims
    report.message = (f"{report.done} archived, {report.skipped} duplicates,"
                      f" {report.failed} failed")
    return report.finish()


def _waiting(ctx: RunContext) -> int:
    counts = ctx.ledger.counts_by_stage()
    waiting = sum(counts.get(stage.value, 0) for stage in input_stages(ctx))
    return waiting if ctx.limit is None else min(waiting, ctx.limit)


def _final_name(ctx: RunContext, media: MediaFile) -> str:
    if ctx.settings.workflow.prefix_final_names:
        return prefixed_name(4, media.filename, media.captured_at)
    return safe_filename(media.filename)


Planned = tuple[MediaFile, MediaFile | None, bool]


def _planned(ctx: RunContext, files: list[MediaFile]) -> Iterator[Planned]:
    """Each file with its twin archived by an earlier run, and whether to store it ahead
    of the bookkeeping: only the first file of each content hash is."""
    first_of: set[str | None] = set()
    for media in files:
        twin = _archived_twin(ctx, media)
        ahead = twin is None and media.content_hash not in first_of
        if ahead:
            first_of.add(media.content_hash)
        yield media, twin, ahead


def _store_ahead(ctx: RunContext, archive: ArchiveTarget, planned: Planned) -> Archived | None:
    media, _, ahead = planned
    if not ahead:
        return None
    return archive.store(media.working_path, media, _final_name(ctx, media))  # type: ignore[arg-type]


def _archive_one(ctx: RunContext, archive: ArchiveTarget, media: MediaFile,
                 report: StepReport, stored_now: dict[str, MediaFile],
                 twin: MediaFile | None, pending: Future[Archived | None]) -> StageChange:
    assert media.id is not None and media.content_hash is not None
    duplicate = stored_now.get(media.content_hash) or twin
    if duplicate is not None:
        report.skipped += 1
        return StageChange(media.id, Stage.NAS_ARCHIVED,
                           {"nas_archived": True, "nas_path": duplicate.nas_path,
                            "nas_hash": duplicate.nas_hash},
                           detail=f"duplicate of {duplicate.label}: not stored twice")
    try:
        # not stored ahead: a twin within this run whose first copy failed
        stored = pending.result() or archive.store(
            media.working_path, media, _final_name(ctx, media))  # type: ignore[arg-type]
    except FileProblem as exc:
        report.failed += 1
        return failure(media, exc)
    report.done += 1
    report.bytes += media.size or 0
    media.nas_path, media.nas_hash = str(stored.path), stored.sha256
    stored_now[media.content_hash] = media
    detail = "found verified copy from an earlier run" if stored.already_there else None
    return StageChange(media.id, Stage.NAS_ARCHIVED,
                       {"nas_archived": True, "nas_path": str(stored.path),
                        "nas_hash": stored.sha256}, detail=detail)


def _archived_twin(ctx: RunContext, media: MediaFile) -> MediaFile | None:
    """Another file with the same bytes already verified on the NAS."""
    for other in ctx.ledger.files_where(content_hash=media.content_hash, nas_archived=True):
        if other.id != media.id and other.nas_hash == media.content_hash and other.nas_path:
            return other
    return None
