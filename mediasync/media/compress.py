"""Step 6 for one file: pick the strategy the rules ask for, encode into a hidden temp
file beside the destination, prove the result (it decodes, it looks like the original
by SSIM at or above the rule's floor, a video lasts as long with as many frames, the
date, place, orientation, rotation and colour profile mean the same), and publish it
atomically only when it is smaller by `min_saving`. The original is only read."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mediasync.errors import MediaError
from mediasync.files import fsync_dir, partial_path
from mediasync.media.exif import GPS
from mediasync.media.hdr import ColourFacts, colour_lost, read_colour
from mediasync.media.jpeg import encode_jpeg
from mediasync.media.likeness import Likeness, Render, compare, render_file, video_likeness
from mediasync.media.metadata import MediaInfo, read_metadata
from mediasync.media.refusal import Unsuitable
from mediasync.media.tools import image_tools, video_tools
from mediasync.media.transcode import transcode
from mediasync.media.types import extension, media_type_of
from mediasync.media.video import VideoProgress
from mediasync.model import MediaType
from mediasync.settings import CompressionRule, CompressionSettings

Status = Literal["compressed", "kept", "failed"]
MAX_DURATION_DRIFT = 0.5  # seconds
_STRATEGY_TYPES = {"jpeg": MediaType.IMAGE, "hevc": MediaType.VIDEO, "h264": MediaType.VIDEO}
# The likeness floor when the rule sets none: a good JPEG or HEVC copy of a photo or a
# clip scores 0.97-0.999; a JPEG at quality 10 about 0.90; a wrong picture far lower.
DEFAULT_MIN_SSIM = {MediaType.IMAGE: 0.95, MediaType.VIDEO: 0.90}
# What must read back equal from the compressed copy (times compare as instants).
_PRESERVED = ("captured_at", "rotation", "make", "model", "has_icc_profile",
              "content_identifier")
_JPEG_SUFFIXES = (".jpg", ".JPG", ".jpeg", ".JPEG", ".Jpg")
SAME_PLACE_METRES = 1.0
EARTH_RADIUS_METRES = 6_371_000.0  # tools rewrite positions (ISO 6709 digits): compare positions


@dataclass(frozen=True)
class CompressJob:
    source: Path
    dest: Path  # wanted output; the strategy may change the extension (.png -> .jpg)
    captured_at: datetime | None = None  # decides `older_than_days`; mtime otherwise
    media_type: MediaType | None = None  # from the name when not given
    # where the original lives beside the files it is known with (the archive folder);
    # the source's own folder when not given
    original_folder: Path | None = None

    @property
    def kind(self) -> MediaType:
        return self.media_type or media_type_of(self.source.name)


@dataclass
class CompressionResult:
    source: Path
    status: Status
    reason: str
    output: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # -> compression_metadata


def choose_rule(rules: list[CompressionRule], job: CompressJob,
                now: datetime | None = None) -> CompressionRule | None:
    age_days = _age_days(job, now or datetime.now(UTC))
    for rule in rules:
        if rule.media_type and rule.media_type != job.kind.value:
            continue
        if rule.formats and extension(job.source.name) not in rule.formats:
            continue
        if rule.older_than_days is not None and age_days < rule.older_than_days:
            continue
        return rule
    return None


def compress_file(job: CompressJob, settings: CompressionSettings,
                  progress: VideoProgress | None = None) -> CompressionResult:
    """Never raises for a bad file: the result says `failed` and why."""
    try:
        return _compress(job, settings, progress)
    except MediaError as exc:
        return CompressionResult(job.source, "failed", str(exc))
    except Exception as exc:  # one odd file must not stop the others
        return CompressionResult(job.source, "failed",
                                 f"{job.source.name}: {type(exc).__name__}: {exc}")


def _compress(job: CompressJob, settings: CompressionSettings,
              progress: VideoProgress | None) -> CompressionResult:
    rule = choose_rule(settings.rules, job)
    if rule is None or rule.strategy == "keep":
        return CompressionResult(job.source, "kept", "kept original: no rule compresses it",
                                 metadata={"strategy": "keep"})
    if _STRATEGY_TYPES[rule.strategy] != job.kind:
        return CompressionResult(
            job.source, "kept", f"kept original: strategy {rule.strategy} does not apply "
            f"to {job.kind.value} files", metadata={"strategy": rule.strategy})
    # Step 5 proved the source decodes; the encoder reads every frame of it anyway.
    before = read_metadata(job.source, job.kind, verify=False)
    output = output_path(job, rule)
    temp = partial_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            encoded = _encode(job, rule, temp, before, progress)
        except Unsuitable as exc:
            return CompressionResult(job.source, "kept", f"kept original: {exc}",
                                     metadata={"strategy": rule.strategy})
        result = _judge(job, rule, settings, before, temp, output, encoded)
        if result.status == "compressed":
            _publish(temp, output)
        return result
    finally:
        temp.unlink(missing_ok=True)


def output_path(job: CompressJob, rule: CompressionRule) -> Path:
    """IMG_1.HEIC becomes IMG_1.jpg, so that it still pairs with IMG_1.MOV (a live
    photo) in viewers; but IMG_1.HEIC.jpg when an IMG_1.JPG sits beside the original,
    whose own compressed copy must not be overwritten."""
    if rule.strategy != "jpeg" or extension(job.dest.name) in ("jpg", "jpeg"):
        return job.dest
    stem = job.dest.with_suffix("")
    # the original's folder (a JPEG original of that stem) and the compressed folder
    # (a copy already there, from a file of that stem archived under another name)
    folders = (job.original_folder or job.source.parent, job.dest.parent)
    if any((folder / f"{stem.name}{ext}").exists()
           for folder in folders for ext in _JPEG_SUFFIXES):
        return job.dest.with_name(f"{job.dest.name}.jpg")
    return stem.with_name(f"{stem.name}.jpg")


@dataclass(frozen=True)
class _Encoded:
    parameters: dict[str, Any]  # the encoder's, for the ledger
    reference: Render | None = None  # an image's render, made while it was decoded
    colour: ColourFacts | None = None  # a video's colour facts, read before encoding


def _encode(job: CompressJob, rule: CompressionRule, temp: Path, before: MediaInfo,
            progress: VideoProgress | None) -> _Encoded:
    if rule.strategy == "jpeg":
        copy = encode_jpeg(job.source, temp, rule)
        return _Encoded(copy.parameters, reference=copy.reference)
    colour = read_colour(job.source)
    return _Encoded(transcode(job.source, temp, rule, before, colour, progress),
                    colour=colour)


def _judge(job: CompressJob, rule: CompressionRule, settings: CompressionSettings,
           before: MediaInfo, temp: Path, output: Path,
           encoded: _Encoded) -> CompressionResult:
    # A video's check reads every packet and decodes every keyframe; an image's copy is
    # decoded by its likeness render below (every coefficient of every block, at a
    # reduced scale), which raises as a full decode would: no second decode for it.
    after = read_metadata(temp, job.kind, verify=job.kind == MediaType.VIDEO)
    metadata = _metadata(rule, before, after, encoded.parameters)
    floor = rule.min_ssim or DEFAULT_MIN_SSIM[job.kind]
    started = time.perf_counter()
    likeness = _likeness(job, before, after, temp, encoded.reference)
    metadata["likeness"] = {**likeness.as_dict(), "floor": floor,
                            "seconds": round(time.perf_counter() - started, 3)}
    if likeness.ssim < floor:
        return CompressionResult(job.source, "kept", f"kept original: the compressed copy "
                                 f"does not look like it (SSIM {likeness.ssim:.3f}, "
                                 f"floor {floor}; PSNR {likeness.psnr:.1f} dB)",
                                 metadata=metadata)
    problem = lost_facts(before, after)
    if problem is None and encoded.colour is not None:
        metadata["colour"] = encoded.colour.as_dict()
        problem = colour_lost(encoded.colour, read_colour(temp))
    if problem:
        return CompressionResult(job.source, "kept", f"kept original: the compressed copy "
                                 f"{problem}", metadata=metadata)
    saving = 1 - after.size / before.size
    if saving < 0:
        return CompressionResult(job.source, "kept", f"kept original: would grow by "
                                 f"{-saving:.1%} ({before.size} -> {after.size} bytes)",
                                 metadata=metadata)
    if saving < settings.min_saving:
        return CompressionResult(job.source, "kept", f"kept original: saves only "
                                 f"{saving:.1%}, less than {settings.min_saving:.0%}",
                                 metadata=metadata)
    metadata["output"] = str(output)
    return CompressionResult(job.source, "compressed", f"saved {saving:.1%}", output,
                             metadata)


def _likeness(job: CompressJob, before: MediaInfo, after: MediaInfo, copy: Path,
              reference: Render | None) -> Likeness:
    if job.kind == MediaType.VIDEO:
        shown = min((before.display_width or 0, before.display_height or 0),
                    (after.display_width or 0, after.display_height or 0), key=max)
        return video_likeness(job.source, copy, before.duration or 0.0, *shown)
    return compare(reference if reference is not None else render_file(job.source),
                   render_file(copy))


def lost_facts(before: MediaInfo, after: MediaInfo) -> str | None:
    """What the copy would lose, in words; None when it keeps everything that counts."""
    for name in _PRESERVED:
        if getattr(before, name) != getattr(after, name):
            return f"lost its {name.replace('_', ' ')}"
    if not same_place(before.gps, after.gps):
        return f"moved its location from {_place(before.gps)} to {_place(after.gps)}"
    if before.frame_count and after.frame_count and before.frame_count != after.frame_count:
        return f"has {after.frame_count} frames instead of {before.frame_count}"
    if _is_portrait(before) != _is_portrait(after):
        return "would show with another orientation"
    if before.duration is not None and (
            after.duration is None
            or abs(after.duration - before.duration) > MAX_DURATION_DRIFT):
        return f"lasts {after.duration}s instead of {before.duration}s"
    return None


def same_place(a: GPS | None, b: GPS | None) -> bool:
    """Both unknown, or within SAME_PLACE_METRES of each other, altitude included when
    the original has one."""
    if a is None or b is None:
        return a is b
    if a.altitude is not None and (
            b.altitude is None or abs(a.altitude - b.altitude) > SAME_PLACE_METRES):
        return False
    return _ground_distance(a, b) <= SAME_PLACE_METRES


def _ground_distance(a: GPS, b: GPS) -> float:
    """Metres between two positions on the Earth's surface (haversine)."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_METRES * math.asin(min(1.0, math.sqrt(h)))


def _place(gps: GPS | None) -> str:
    if gps is None:
        return "none"
    altitude = f", {gps.altitude} m" if gps.altitude is not None else ""
    return f"{gps.latitude}, {gps.longitude}{altitude}"


def _is_portrait(info: MediaInfo) -> bool:
    return (info.display_height or 0) > (info.display_width or 0)


def _metadata(rule: CompressionRule, before: MediaInfo, after: MediaInfo,
              parameters: dict[str, Any]) -> dict[str, Any]:
    is_video = after.media_type == MediaType.VIDEO
    codec = after.video_codec if is_video else "jpeg"
    return {
        "strategy": rule.strategy, "codec": codec, "parameters": parameters,
        "original_size": before.size, "compressed_size": after.size,
        "ratio": round(after.size / before.size, 4),
        "tools": video_tools() if is_video else image_tools(),
        "compressed_at": datetime.now(UTC).isoformat(),
    }


def _publish(temp: Path, output: Path) -> None:
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, output)
    fsync_dir(output.parent)


def _age_days(job: CompressJob, now: datetime) -> float:
    moment = job.captured_at
    if moment is None:
        moment = datetime.fromtimestamp(job.source.stat().st_mtime, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (now - moment).total_seconds() / 86400


