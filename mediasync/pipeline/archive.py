"""Step 4: a verified copy of every file on the NAS."""

from __future__ import annotations

from mediasync.archive import NasArchive
from mediasync.errors import FileProblem
from mediasync.files import safe_filename
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.naming import prefixed_name
from mediasync.pipeline.common import ChangeWriter, failure, plan_row, take
from mediasync.pipeline.context import RunContext, StepReport


def input_stages(ctx: RunContext) -> list[Stage]:
    if ctx.settings.pixel_enabled:
        return [Stage.PIXEL_VERIFIED]
    return [Stage.DOWNLOADED, Stage.PIXEL_VERIFIED]


def nas_archive(ctx: RunContext) -> NasArchive:
    workflow = ctx.settings.workflow
    return NasArchive(ctx.settings.resolve(workflow.nas_archive), workflow.archive_layout)


def run(ctx: RunContext) -> StepReport:
    report = StepReport(4, "NAS archive")
    files = take(ctx, input_stages(ctx))
    archive = nas_archive(ctx)
    if ctx.dry_run:
        report.planned = [plan_row(m, f"copy to {archive.target_for(m, _final_name(ctx, m))}")
                          for m in files]
        report.done = len(files)
        report.message = f"would archive {len(files)} files"
        return report.finish()
    if files:
        archive.check()
    stored_now: dict[str, MediaFile] = {}  # by content hash: twins within this run
    with ChangeWriter(ctx) as changes:
        for number, media in enumerate(files, 1):
            changes.add(_archive_one(ctx, archive, media, report, stored_now))
            ctx.progress(number, len(files), media.filename)
    report.message = (f"{report.done} archived, {report.skipped} duplicates,"
                      f" {report.failed} failed")
    return report.finish()


def _final_name(ctx: RunContext, media: MediaFile) -> str:
    if ctx.settings.workflow.prefix_final_names:
        return prefixed_name(4, media.filename, media.captured_at)
    return safe_filename(media.filename)


def _archive_one(ctx: RunContext, archive: NasArchive, media: MediaFile,
                 report: StepReport, stored_now: dict[str, MediaFile]) -> StageChange:
    assert media.id is not None and media.content_hash is not None
    duplicate = stored_now.get(media.content_hash) or _archived_twin(ctx, media)
    if duplicate is not None:
        report.skipped += 1
        return StageChange(media.id, Stage.NAS_ARCHIVED,
                           {"nas_archived": True, "nas_path": duplicate.nas_path,
                            "nas_hash": duplicate.nas_hash},
                           detail=f"duplicate of {duplicate.label}: not stored twice")
    try:
        stored = archive.store(media.working_path, media, _final_name(ctx, media))  # type: ignore[arg-type]
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
