"""Step 3: wait until Syncthing proves the Pixel holds each placed file."""

from __future__ import annotations

from pathlib import Path

from mediasync.errors import FileProblem
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.pipeline.common import ChangeWriter, failure, plan_row
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pixel.phone import DeviceWait, PixelTarget, Verification, verify
from mediasync.pixel.setup import ensure_ready
from mediasync.pixel.syncthing import SyncthingClient, short_id


def run(ctx: RunContext) -> StepReport:
    report = StepReport(3, "pixel verification")
    if not ctx.settings.pixel_enabled:
        report.message = "skipped: Pixel sync disabled"
        return report.finish()
    target = PixelTarget.from_settings(ctx.settings)
    files = ctx.ledger.files_at([Stage.PIXEL_SYNC_READY], limit=ctx.limit)
    if not files:  # nothing to do: Syncthing's state does not matter to this run
        report.message = "nothing to verify"
        return report.finish()
    by_name, misplaced = _by_name(target, files)
    with SyncthingClient.from_settings(ctx.settings.syncthing) as client:
        ensure_ready(client, target)
        if ctx.dry_run:
            return _plan(report, DeviceWait(client, target, by_name, rescan=False), by_name)
        timeout = ctx.settings.workflow.sync_timeout_seconds
        result = verify(client, target, by_name, timeout=timeout,
                        poll=ctx.settings.syncthing.event_poll_seconds,
                        progress=ctx.progress) if by_name else Verification()
        _record(ctx, report, target, result, by_name, misplaced)
        if result.waiting:  # the flow halts; these stay pixel_sync_ready for the next run
            raise result.timeout_error(timeout, client.device_state(target.device_id))
    report.message = (f"{report.done} verified on device {short_id(target.device_id)}, "
                      f"{report.failed} failed")
    return report.finish()


def _by_name(target: PixelTarget,
             files: list[MediaFile]) -> tuple[dict[str, MediaFile], list[MediaFile]]:
    """Files by the name Syncthing knows them under; those that cannot have one apart."""
    by_name: dict[str, MediaFile] = {}
    misplaced: list[MediaFile] = []
    for media in files:
        path = Path(media.pixel_path) if media.pixel_path else None
        if path is not None and path.is_relative_to(target.folder):
            by_name[target.name_of(path)] = media
        else:
            misplaced.append(media)
    return by_name, misplaced


def _record(ctx: RunContext, report: StepReport, target: PixelTarget, result: Verification,
            by_name: dict[str, MediaFile], misplaced: list[MediaFile]) -> None:
    device = short_id(target.device_id)
    with ChangeWriter(ctx) as changes:
        for name, version in result.held.items():
            media = by_name[name]
            assert media.id is not None
            changes.add(StageChange(media.id, Stage.PIXEL_VERIFIED,
                                    {"pixel_synced": True, "pixel_version": version},
                                    detail=f"device {device} holds version {version}"))
            report.done += 1
            report.bytes += media.size or 0
        problems = [(by_name[n], "gone from the Pixel folder before the device confirmed it")
                    for n in result.gone]
        problems += [(m, f"pixel_path {m.pixel_path} is not in the Pixel folder "
                         f"{target.folder}") for m in misplaced]
        for media, why in problems:
            changes.add(failure(media, FileProblem(f"{media.label}: {why}")))
            report.failed += 1


def _plan(report: StepReport, wait: DeviceWait, by_name: dict[str, MediaFile]) -> StepReport:
    """One look, no waiting and no rescans: what the device holds right now."""
    if by_name:
        wait.check()
    held, waiting = wait.result.held, wait.result.waiting
    report.planned = [plan_row(media, f"verified: device holds version {held[name]}"
                               if name in held else
                               f"wait: {waiting.get(name, 'gone from the Pixel folder')}")
                      for name, media in by_name.items()]
    report.done = len(held)
    report.message = f"{len(held)} of {len(by_name)} files already on the device"
    return report.finish()
