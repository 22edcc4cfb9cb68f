"""Step 7: list what is proven safe to delete at the source (the manifest a person can
review), and delete it there when the owner turned that on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediasync.files import atomic_write
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.naming import prefixed_name
from mediasync.pipeline.common import ChangeWriter, plan_row, take
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pipeline.delete_at_source import delete_proven

SUPERSEDED_NOTE = "superseded by a newer version at the source: not listed for deletion"


def run(ctx: RunContext) -> StepReport:
    report = StepReport(7, "source delete")
    files = take(ctx, [Stage.COMPRESSED])
    proven = [(m, why_not_proven(ctx, m)) for m in files]
    if ctx.dry_run:
        report.planned = [plan_row(m, f"keep: {why}" if why else
                                   f"keep: {SUPERSEDED_NOTE}" if m.superseded_at_source
                                   else "list as safe to delete") for m, why in proven]
        report.done = sum(1 for m, why in proven if why is None and not m.superseded_at_source)
        report.message = (f"would list {report.done} files as safe to delete; "
                          f"{delete_proven(ctx, report)}")
        return report.finish()
    safe = [m for m, why in proven if why is None and not m.superseded_at_source]
    with ChangeWriter(ctx) as changes:
        for media, why in proven:
            changes.add(_mark(media, why, report))
    if safe:
        manifest = write_manifest(ctx, safe)
        report.message = f"{len(safe)} files proven safe, listed in {manifest.name}"
    else:
        report.message = "nothing new proven safe to delete"
    report.message += f"; {delete_proven(ctx, report)}"
    return report.finish()


def why_not_proven(ctx: RunContext, media: MediaFile) -> str | None:
    """What step 4 and step 3 recorded (README, "Safety"): why this file is not proven, or None."""
    if not (media.nas_archived and media.nas_path and media.content_hash):
        return "no NAS copy recorded"
    if media.nas_hash != media.content_hash:
        return "NAS copy does not hash to the downloaded bytes"
    if ctx.settings.pixel_enabled and not (media.pixel_synced and media.pixel_version):
        return "not verified on the Pixel"
    return None


def _mark(media: MediaFile, why: str | None, report: StepReport) -> StageChange:
    assert media.id is not None
    if why is not None:
        report.failed += 1
        return StageChange(media.id, Stage.FAILED, {"error": f"not proven safe: {why}"},
                           detail=why)
    if media.superseded_at_source:
        # archived and proven, but what the source holds under its id is a newer version:
        # it goes on to completed without ever being listed or marked for deletion
        report.skipped += 1
        return StageChange(media.id, Stage.ICLOUD_DELETE_READY, {"icloud_delete_ready": False},
                           detail=SUPERSEDED_NOTE)
    report.done += 1
    return StageChange(media.id, Stage.ICLOUD_DELETE_READY, {"icloud_delete_ready": True})


def write_manifest(ctx: RunContext, files: list[MediaFile]) -> Path:
    folder = ctx.path("icloud_delete")
    target = folder / prefixed_name(7, f"{ctx.run_id}.json")
    entries: list[dict[str, Any]] = [
        {"source": m.source, "source_id": m.source_id, "filename": m.filename,
         "size": m.size, "sha256": m.content_hash, "nas_path": m.nas_path,
         "pixel_version": m.pixel_version,
         "captured_at": m.captured_at.isoformat() if m.captured_at else None}
        for m in files
    ]
    body = {"run_id": ctx.run_id, "written_at": datetime.now(UTC).isoformat(),
            "files": entries}
    with atomic_write(target, working=True) as out:
        out.write(json.dumps(body, indent=2).encode())
    return target
