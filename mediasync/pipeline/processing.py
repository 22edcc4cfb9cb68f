"""Step 5: move the working copy to `processing/`, prove it decodes and read what it
is (capture time, place, camera, orientation, duration, codecs) into the ledger. A
bad file fails alone; sidecars and unknown types are skipped with the reason."""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from mediasync.errors import FileProblem, MediaError
from mediasync.files import move, working_folder_faults
from mediasync.media.metadata import MediaInfo, read_metadata
from mediasync.model import MediaFile, MediaType, Stage, StageChange
from mediasync.naming import prefixed_name
from mediasync.pipeline.common import ChangeWriter, failure, plan_row, run_ahead, take
from mediasync.pipeline.context import RunContext, StepReport

_LIVE_IMAGE_EXTENSIONS = ("HEIC", "heic", "JPG", "jpg", "JPEG", "jpeg")
_LIVE_VIDEO_EXTENSIONS = ("MOV", "mov")
NOT_FROM_FILE = "source or import time: the file has no capture time"
# A decoded 48 MP photo holds about 150 MB: one decode per core, but not dozens at once.
DECODERS = min(os.cpu_count() or 1, 8)


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
        # moves one at a time (each picks a free name), decoding on every core
        moved = ((media, _moved(media, folder)) for media in files)
        for number, ((media, working), pending) in enumerate(
                run_ahead(moved, _read, DECODERS), 1):
            changes.add(_outcome(ctx, media, working, pending, report))
            ctx.progress(number, len(files), media.filename)
    report.message = (f"{report.done} processed, {report.skipped} skipped,"
                      f" {report.failed} failed")
    return report.finish()


def _moved(media: MediaFile, folder: Path) -> Path | FileProblem:
    try:
        return _move_to(media, folder)
    except FileProblem as exc:
        return exc


def _read(item: tuple[MediaFile, Path | FileProblem]) -> MediaInfo | None:
    media, working = item
    return None if isinstance(working, FileProblem) else read_metadata(working, media.media_type)


def _outcome(ctx: RunContext, media: MediaFile, working: Path | FileProblem,
             pending: Future[MediaInfo | None], report: StepReport) -> StageChange:
    assert media.id is not None
    if isinstance(working, FileProblem):
        report.failed += 1
        return failure(media, working)
    try:
        info = pending.result()
    except MediaError as exc:
        report.failed += 1
        change = failure(media, MediaError(as_told_of(media, working, str(exc))))
        change.updates["local_path"] = str(working)  # it was moved before it failed
        return change
    assert info is not None
    updates: dict[str, Any] = {"local_path": str(working), "media_metadata": info.as_dict()}
    if not info.handled:
        report.skipped += 1
        return StageChange(media.id, Stage.SKIPPED, updates, detail=info.note)
    report.done += 1
    report.bytes += media.size or 0
    if info.captured_at is not None:
        updates["captured_at"] = info.captured_at
    else:  # the time step 1 took from the source (its date, a file's mtime, the import)
        updates["media_metadata"]["captured_at_source"] = NOT_FROM_FILE
    if partner := _live_photo_partner(ctx, media, info):
        updates["group_id"] = partner.group_id
    return StageChange(media.id, Stage.PROCESSING_READY, updates, detail=_date_note(media, info))


def _date_note(media: MediaFile, info: MediaInfo) -> str | None:
    if info.implausible_capture_time is None:
        return None
    kept = media.captured_at.isoformat() if media.captured_at else "none"
    return (f"capture time {info.implausible_capture_time} in the file is implausible;"
            f" kept the source's time ({kept})")


def as_told_of(media: MediaFile, working: Path, message: str) -> str:
    """A media error names the working copy (step05_processing_..._IMG_1.jpg); the
    ledger speaks of the file as its owner knows it."""
    own = f"{working.name}: "
    return f"{media.filename}: {message[len(own):]}" if message.startswith(own) else message


def _live_photo_partner(ctx: RunContext, media: MediaFile,
                        info: MediaInfo) -> MediaFile | None:
    """A live photo's image and video travel as one unit. Sources that know it (iCloud)
    set group_id; for the others, an image and a video with the same name beside each
    other are one, and both get the same group_id here."""
    if media.group_id is not None:
        return None
    stem, _, _ = media.source_id.rpartition(".")
    partners = _LIVE_VIDEO_EXTENSIONS if info.media_type == MediaType.IMAGE \
        else _LIVE_IMAGE_EXTENSIONS
    for ext in partners:
        partner = ctx.ledger.find(media.source, f"{stem}.{ext}")
        if partner is not None and partner.id != media.id:
            break
    else:
        return None
    if partner.group_id is None:
        partner.group_id = f"live:{stem}"
        ctx.ledger.update(partner.id, ctx.run_id, group_id=partner.group_id)  # type: ignore[arg-type]
    return partner


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
    with working_folder_faults(folder):  # full, read-only: the run halts, no file fails
        move(current, target)
    return target
