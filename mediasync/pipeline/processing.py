"""Step 5: move the working copy to `processing/` and prove it decodes."""

from __future__ import annotations

import os
from pathlib import Path

from mediasync.errors import FileProblem
from mediasync.media.probe import probe
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.naming import prefixed_name
from mediasync.pipeline.common import ChangeWriter, failure, plan_row, take
from mediasync.pipeline.context import RunContext, StepReport


def run(ctx: RunContext) -> StepReport:
    report = StepReport(5, "processing")
    files = take(ctx, [Stage.NAS_ARCHIVED])
    if ctx.dry_run:
        report.planned = [plan_row(m, "read metadata, move to processing") for m in files]
        report.done = len(files)
        report.message = f"would process {len(files)} files"
        return report.finish()
    folder = ctx.path("processing")
    folder.mkdir(parents=True, exist_ok=True)
    with ChangeWriter(ctx) as changes:
        for number, media in enumerate(files, 1):
            changes.add(_process_one(media, folder, report))
            ctx.progress(number, len(files), media.filename)
    report.message = f"{report.done} processed, {report.failed} failed"
    return report.finish()


def _process_one(media: MediaFile, folder: Path, report: StepReport) -> StageChange:
    assert media.id is not None
    try:
        working = _move_to(media, folder)
        info = probe(working, media.media_type)
    except FileProblem as exc:
        report.failed += 1
        return failure(media, exc)
    report.done += 1
    report.bytes += media.size or 0
    updates = {"local_path": str(working), "media_metadata": info.as_dict()}
    if info.captured_at is not None:
        updates["captured_at"] = info.captured_at
    return StageChange(media.id, Stage.PROCESSING_READY, updates)


def _move_to(media: MediaFile, folder: Path) -> Path:
    current = media.working_path
    if current is None:
        raise FileProblem(f"{media.label}: no working copy recorded", subject=media.source_id)
    if current.parent == folder:
        return current
    plain = folder / prefixed_name(5, media.filename, media.captured_at)
    tagged = plain.with_name(f"{plain.stem}_{media.id}{plain.suffix}")
    if not current.exists():
        # a run that died between the move and recording it
        for moved in (plain, tagged):
            if moved.exists() and moved.stat().st_size == media.size:
                return moved
        raise FileProblem(f"{media.label}: working copy {current} is missing",
                          subject=media.source_id)
    target = tagged if plain.exists() else plain
    os.replace(current, target)
    return target
