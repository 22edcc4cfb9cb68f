"""Step 8: mark finished files completed and remove working copies that have aged out."""

from __future__ import annotations

import time
from pathlib import Path

from mediasync.files import PARTIAL_SUFFIX
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.pipeline.common import ChangeWriter, plan_row, take
from mediasync.pipeline.context import RunContext, StepReport


def run(ctx: RunContext) -> StepReport:
    report = StepReport(8, "cleanup")
    finishing = take(ctx, [Stage.ICLOUD_DELETE_READY])
    workflow = ctx.settings.workflow
    keep_working = workflow.cleanup_after_hours * 3600
    keep_pixel = workflow.pixel_keep_hours * 3600 if workflow.pixel_keep_hours else None
    if ctx.dry_run:
        report.planned = [plan_row(m, "mark completed") for m in finishing]
        report.done = len(finishing)
        report.message = f"would complete {len(finishing)} files"
        return report.finish()
    with ChangeWriter(ctx) as changes:
        for media in finishing:
            assert media.id is not None
            changes.add(StageChange(media.id, Stage.COMPLETED))
            report.done += 1
    for media in ctx.ledger.files_at([Stage.COMPLETED]):
        _free_copies(ctx, media, keep_working, keep_pixel)
    removed = _remove_stale_partials(ctx, keep_working)
    report.message = f"{report.done} completed, {removed} stale temp files removed"
    return report.finish()


def _age(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def _free_copies(ctx: RunContext, media: MediaFile, keep_working: float,
                 keep_pixel: float | None) -> None:
    assert media.id is not None
    gone: dict[str, None] = {}
    working = media.working_path
    if working is not None:
        age = _age(working)
        if age is None or age >= keep_working:
            working.unlink(missing_ok=True)
            gone["local_path"] = None
    # Removing a file from the Pixel folder deletes it on the phone: only once the phone
    # has had time to back it up, and never when pixel_keep_hours is 0.
    if media.pixel_path and media.pixel_synced and keep_pixel is not None:
        pixel = Path(media.pixel_path)
        age = _age(pixel)
        if age is None or age >= keep_pixel:
            pixel.unlink(missing_ok=True)
            gone["pixel_path"] = None
    if gone:
        ctx.ledger.update(media.id, ctx.run_id, **gone)


def _remove_stale_partials(ctx: RunContext, keep_seconds: float) -> int:
    removed = 0
    for name in ("incoming", "processing"):
        folder = ctx.path(name)
        if not folder.is_dir():
            continue
        for partial in folder.glob(f".*{PARTIAL_SUFFIX}"):
            age = _age(partial)
            if age is not None and age >= keep_seconds:
                partial.unlink(missing_ok=True)
                removed += 1
    return removed
