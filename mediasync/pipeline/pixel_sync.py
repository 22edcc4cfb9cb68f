"""Step 2: place files in the folder Syncthing shares with the Pixel, a window at a time."""

from __future__ import annotations

from mediasync.model import MediaFile, Stage, StageChange
from mediasync.pipeline.common import ChangeWriter, failure, plan_row
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pixel.phone import PixelTarget, place_batch, window_room
from mediasync.pixel.setup import ensure_ready
from mediasync.pixel.syncthing import SyncthingClient


def run(ctx: RunContext) -> StepReport:
    report = StepReport(2, "pixel sync")
    if not ctx.settings.pixel_enabled:
        report.message = "skipped: Pixel sync disabled"
        return report.finish()
    target = PixelTarget.from_settings(ctx.settings)
    in_flight = len(ctx.ledger.files_at([Stage.PIXEL_SYNC_READY]))
    files = _next_files(ctx, in_flight)
    if not files:  # nothing to do: Syncthing's state does not matter to this run
        report.message = f"nothing to place ({in_flight} on their way)"
        return report.finish()
    with SyncthingClient.from_settings(ctx.settings.syncthing) as client:
        ensure_ready(client, target)  # read-only: a dry run shows a broken set-up too
        if ctx.dry_run:
            report.planned = [plan_row(m, f"place as {target.folder / target.file_name(m)}")
                              for m in files]
            report.done = len(files)
            report.message = f"would place {len(files)} files ({in_flight} on their way)"
            return report.finish()
        placement = place_batch(client, target, files)
    with ChangeWriter(ctx) as changes:
        for media, path in placement.placed:
            changes.add(_placed(media, str(path)))
            report.done += 1
            report.bytes += media.size or 0
        for media, problem in placement.failed:
            changes.add(failure(media, problem))
            report.failed += 1
    report.message = (f"{report.done} placed, {report.failed} failed, "
                      f"{in_flight} still on their way from an earlier run")
    return report.finish()


def _next_files(ctx: RunContext, in_flight: int) -> list[MediaFile]:
    room = window_room(ctx.settings.workflow.pixel_batch_size, in_flight)
    if ctx.limit is not None:
        room = min(room, ctx.limit)
    return ctx.ledger.files_at([Stage.DOWNLOADED], limit=room) if room else []


def _placed(media: MediaFile, pixel_path: str) -> StageChange:
    assert media.id is not None
    return StageChange(media.id, Stage.PIXEL_SYNC_READY, {"pixel_path": pixel_path})
