"""Step 1: bring new assets from the source into `incoming/`, verified and recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from mediasync.errors import FileProblem
from mediasync.files import with_suffix_tag
from mediasync.media.capture import capture_time
from mediasync.model import MediaFile, MediaType, SourceAsset, Stage, StageChange
from mediasync.naming import prefixed_name
from mediasync.pipeline.common import ChangeWriter, chunks
from mediasync.pipeline.context import RunContext, StepReport

MAX_DOWNLOAD_ATTEMPTS = 3
RECORD_EVERY = 50


def run(ctx: RunContext) -> StepReport:
    report = StepReport(1, "download")
    retry = _retryable(ctx)
    known = ctx.ledger.known_source_ids(ctx.source.name) - set(retry)
    wanted = _new_assets(ctx, known)
    if ctx.dry_run:
        report.planned = [{"file": a.filename, "source_id": a.source_id,
                           "action": _planned_action(a)} for a in wanted]
        report.done = len(wanted)
        report.message = f"would download {len(wanted)} new assets"
        return report.finish()
    incoming = ctx.path("incoming")
    claimed: set[Path] = set()
    for batch in chunks(wanted, RECORD_EVERY):
        new_rows: list[MediaFile] = []
        try:
            with ChangeWriter(ctx) as retried:
                for asset in batch:
                    media = _fetch(ctx, asset, incoming, claimed, report)
                    if asset.source_id in retry:
                        retried.add(_retry_change(retry[asset.source_id], media))
                    else:
                        new_rows.append(media)
                    ctx.progress(report.done + report.failed + report.skipped, len(wanted),
                                 asset.filename)
        finally:
            # recorded even when the source fails mid-batch: those files are here
            ctx.ledger.add_files(new_rows, ctx.run_id)
    report.message = (f"{report.done} downloaded, {report.failed} failed, "
                      f"{report.skipped} skipped")
    return report.finish()


def _retryable(ctx: RunContext) -> dict[str, MediaFile]:
    """Files whose transfer failed, worth another try (an empty file stays failed)."""
    failed = ctx.ledger.files_at([Stage.FAILED], source=ctx.source.name)
    return {m.source_id: m for m in failed
            if m.failed_stage is None and m.local_path is None and m.size != 0
            and m.media_type in (MediaType.IMAGE, MediaType.VIDEO)
            and m.attempts < MAX_DOWNLOAD_ATTEMPTS}


def _new_assets(ctx: RunContext, known: set[str]) -> list[SourceAsset]:
    wanted: list[SourceAsset] = []
    for asset in ctx.source.list_assets(known):
        if asset.source_id in known:
            continue
        wanted.append(asset)
        if ctx.limit is not None and len(wanted) >= ctx.limit:
            break
    return _keep_groups_together(wanted)


def _keep_groups_together(assets: Sequence[SourceAsset]) -> list[SourceAsset]:
    """A live photo's image and video travel together, whatever order they were listed in."""
    order: dict[str, list[SourceAsset]] = {}
    for asset in assets:
        order.setdefault(asset.group_id or f"\0{asset.source_id}", []).append(asset)
    return [a for group in order.values() for a in group]


def _planned_action(asset: SourceAsset) -> str:
    if asset.media_type in (MediaType.SIDECAR, MediaType.OTHER):
        return f"skip ({asset.media_type.value})"
    if asset.size == 0:
        return "fail (empty file)"
    return "download"


def _fetch(ctx: RunContext, asset: SourceAsset, incoming: Path, claimed: set[Path],
           report: StepReport) -> MediaFile:
    media = MediaFile(
        source=ctx.source.name, source_id=asset.source_id, filename=asset.filename,
        size=asset.size, captured_at=asset.created, media_type=asset.media_type,
        favorite=asset.favorite, group_id=asset.group_id, source_meta=dict(asset.extra),
        attempts=1,
    )
    if asset.media_type in (MediaType.SIDECAR, MediaType.OTHER):
        report.skipped += 1
        media.workflow_stage = Stage.SKIPPED
        media.error = f"not a photo or video ({asset.media_type.value}): left at the source"
        return media
    if asset.size == 0:
        return _failed(media, "empty file (0 bytes) at the source", report)
    dest = _working_name(incoming, asset, claimed)
    try:
        got = ctx.source.download(asset, dest)
    except FileProblem as exc:
        return _failed(media, str(exc), report)
    media.size, media.content_hash, media.local_path = got.size, got.sha256, str(got.path)
    media.captured_at = capture_time(got.path, asset.media_type) or asset.created
    report.done += 1
    report.bytes += got.size
    return media


def _failed(media: MediaFile, reason: str, report: StepReport) -> MediaFile:
    report.failed += 1
    media.workflow_stage = Stage.FAILED
    media.error = reason
    return media


def _working_name(incoming: Path, asset: SourceAsset, claimed: set[Path]) -> Path:
    dest = incoming / prefixed_name(1, asset.filename, asset.created)
    if dest in claimed or dest.exists():
        tag = hashlib.sha1(asset.source_id.encode()).hexdigest()[:8]
        dest = with_suffix_tag(dest, tag)
    claimed.add(dest)
    return dest


def _retry_change(before: MediaFile, media: MediaFile) -> StageChange:
    assert before.id is not None
    updates = {k: getattr(media, k) for k in
               ("size", "content_hash", "local_path", "captured_at", "error")}
    updates["attempts"] = before.attempts + 1
    return StageChange(before.id, media.workflow_stage, updates,
                       detail=media.error or "retried download")
