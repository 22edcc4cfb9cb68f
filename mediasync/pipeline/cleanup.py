"""Step 8: mark finished files completed and remove working copies that have aged out."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from mediasync.files import PARTIAL_SUFFIX
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.pipeline.common import ChangeWriter, plan_row, take
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pixel.phone import pixel_copies_due, remove_pixel_copy


def run(ctx: RunContext) -> StepReport:
    report = StepReport(8, "cleanup")
    finishing = take(ctx, [Stage.ICLOUD_DELETE_READY])
    workflow = ctx.settings.workflow
    keep_working = workflow.cleanup_after_hours * 3600
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
    completed = ctx.ledger.files_at([Stage.COMPLETED])
    freed = _free_working_copies(ctx, completed, keep_working)
    freed += _free_pixel_copies(ctx, completed)
    removed = _remove_stale_partials(ctx, keep_working)
    report.message = (f"{report.done} completed, {freed} copies freed, "
                      f"{removed} stale temp files removed")
    return report.finish()


def _age(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def _free_working_copies(ctx: RunContext, files: list[MediaFile], keep_seconds: float) -> int:
    freed = 0
    for media in files:
        working = media.working_path
        if working is None:
            continue
        age = _age(working)
        if age is None or age >= keep_seconds:
            working.unlink(missing_ok=True)
            ctx.ledger.update(media.id, ctx.run_id, local_path=None)  # type: ignore[arg-type]
            freed += 1
    return freed


def _free_pixel_copies(ctx: RunContext, files: list[MediaFile]) -> int:
    """Removing a file from the Pixel folder deletes it on the phone: only once the phone
    has had `pixel_keep_hours` since verification to back it up, never when that is 0."""
    due = pixel_copies_due(ctx.ledger, files, ctx.settings.workflow.pixel_keep_hours,
                           datetime.now(UTC))
    for media in due:
        remove_pixel_copy(media, ctx.path("pixel_sync"))
        ctx.ledger.update(media.id, ctx.run_id, pixel_path=None)  # type: ignore[arg-type]
    return len(due)


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
