"""Step 5's question about one file: what is it, when and where was it taken, and does
it decode? `read_metadata` answers, or raises MediaError with a one-line reason."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mediasync.errors import MediaError
from mediasync.media import images, video
from mediasync.media.exif import GPS, read_exif
from mediasync.media.types import extension, media_type_of
from mediasync.model import MediaType

# QuickTime keeps the local time with its offset here; creation_time is UTC only.
_LOCAL_CREATION_KEYS = ("com.apple.quicktime.creationdate",)
_LOCATION_KEYS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
_CONTENT_IDENTIFIER_KEY = "com.apple.quicktime.content.identifier"
_MAKE_KEYS = ("com.apple.quicktime.make", "make")
_MODEL_KEYS = ("com.apple.quicktime.model", "model")
_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")


@dataclass
class MediaInfo:
    path: str
    media_type: MediaType
    format: str  # what the content is (JPEG, HEIF, mov,mp4,...), else the extension
    size: int
    width: int | None = None  # as stored
    height: int | None = None
    display_width: int | None = None  # as a viewer shows it (orientation, rotation)
    display_height: int | None = None
    orientation: int | None = None  # EXIF, images
    rotation: int | None = None  # display matrix, videos
    captured_at: datetime | None = None
    captured_offset: str | None = None  # "+02:00" when the file records it
    # where captured_at comes from, and what it means: see capture_source()
    captured_at_source: str | None = None
    gps: GPS | None = None
    location: str | None = None  # ISO 6709 as the video stores it
    make: str | None = None
    model: str | None = None
    has_icc_profile: bool = False
    duration: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_count: int | None = None  # video frames, as the container declares them
    content_identifier: str | None = None  # ties a live photo's video to its image
    note: str | None = None  # why a file is not media we handle (sidecar, unknown)
    implausible_capture_time: str | None = None  # what the file said, when not believed

    @property
    def handled(self) -> bool:
        return self.media_type in (MediaType.IMAGE, MediaType.VIDEO)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the ledger's `media_metadata`."""
        data = asdict(self)
        data["media_type"] = self.media_type.value
        data["captured_at"] = self.captured_at.isoformat() if self.captured_at else None
        data["gps"] = self.gps.as_dict() if self.gps else None
        return data


def plausible_capture_time(when: datetime | None) -> bool:
    """A clock that was never set or lost its battery writes 2999 or 1800: a date before
    1900 or after tomorrow is not when the photo was taken, and must not place it in the
    archive."""
    if when is None:
        return True
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    return datetime(1900, 1, 1, tzinfo=UTC) <= aware <= tomorrow


def _believed(info: MediaInfo) -> MediaInfo:
    """The capture time kept only when plausible; otherwise recorded as what it was."""
    if plausible_capture_time(info.captured_at):
        return info
    assert info.captured_at is not None
    info.implausible_capture_time = info.captured_at.isoformat()
    info.captured_at = info.captured_offset = info.captured_at_source = None
    return info


CAMERA_WITH_ZONE = "camera, with its UTC offset"
CAMERA_LOCAL = "camera, local time, zone unknown"
CONTAINER_UTC = "video container, UTC"


def _with_capture_source(info: MediaInfo, kind: str) -> MediaInfo:
    """Say what the capture time is: a camera's time with its offset (an instant), a
    camera's local time without one (the wall clock where it was taken; the zone, and so
    the instant, unknown), or a video container's UTC creation time."""
    if info.captured_at is None:
        return info
    if info.captured_at.tzinfo is None:
        info.captured_at_source = CAMERA_LOCAL
    elif info.captured_offset is not None:
        info.captured_at_source = CAMERA_WITH_ZONE
    else:
        info.captured_at_source = CONTAINER_UTC if kind == "container" else CAMERA_WITH_ZONE
    return info


def read_metadata(path: Path, media_type: MediaType | None = None,
                  verify: bool = True) -> MediaInfo:
    """Classify (by name unless `media_type` is given), read and fully check one file.
    Sidecars and unknown types come back classified, with a note, without being opened.
    verify=False reads headers and tags only, for a file already proven to decode."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path.name}: no such file", subject=path)
    kind = media_type or media_type_of(path.name)
    if kind == MediaType.IMAGE:
        return _believed(_with_capture_source(_image_info(path, verify), "camera"))
    if kind == MediaType.VIDEO:
        return _believed(_with_capture_source(_video_info(path, verify), "container"))
    note = "sidecar file (edits or metadata for another file)" if kind == MediaType.SIDECAR \
        else f"unsupported file type '{extension(path.name) or 'none'}'"
    return MediaInfo(str(path), kind, extension(path.name), path.stat().st_size, note=note)


def _image_info(path: Path, verify: bool) -> MediaInfo:
    with images.decoded_image(path, decode=verify) as image:
        facts = read_exif(image.getexif())
        width, height = image.size
        shown = images.displayed_size(image, facts.orientation)
        return MediaInfo(
            str(path), MediaType.IMAGE, image.format or extension(path.name),
            path.stat().st_size, width, height, shown[0], shown[1],
            orientation=facts.orientation, captured_at=facts.captured_at,
            captured_offset=facts.captured_offset, gps=facts.gps, make=facts.make,
            model=facts.model, has_icc_profile=bool(image.info.get("icc_profile")),
        )


def _video_info(path: Path, verify: bool) -> MediaInfo:
    probed = video.probe(path, verify=verify)
    stream = video.video_stream(probed, path)
    tags = probed.get("format", {}).get("tags", {})
    width, height = int(stream.get("width", 0)), int(stream.get("height", 0))
    rotation = video_rotation(stream)
    quarter_turn = rotation is not None and rotation % 180 != 0
    captured_at, offset = video_capture_time(tags)
    location = _first(tags, _LOCATION_KEYS)
    return MediaInfo(
        str(path), MediaType.VIDEO, extension(path.name) or "video",
        path.stat().st_size, width, height,
        height if quarter_turn else width, width if quarter_turn else height,
        rotation=rotation, captured_at=captured_at, captured_offset=offset,
        gps=parse_iso6709(location), location=location, make=_first(tags, _MAKE_KEYS),
        model=_first(tags, _MODEL_KEYS), duration=video.duration_of(probed),
        video_codec=stream.get("codec_name"), audio_codec=_audio_codec(probed),
        frame_count=_frame_count(stream),
        content_identifier=tags.get(_CONTENT_IDENTIFIER_KEY),
    )


def _frame_count(stream: dict[str, Any]) -> int | None:
    value = stream.get("nb_frames")
    return int(value) if isinstance(value, str) and value.isdigit() and value != "0" \
        else None


def video_rotation(stream: dict[str, Any]) -> int | None:
    """Degrees in [0, 360): ffprobe says -90 for what a tag of 270 means."""
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(side["rotation"]) % 360
    rotate = stream.get("tags", {}).get("rotate")  # ffmpeg before 5.0
    return int(rotate) % 360 if rotate is not None else None


def parse_iso6709(text: str | None) -> GPS | None:
    match = _ISO6709.match(text or "")
    if not match:
        return None
    altitude = float(match.group(3)) if match.group(3) else None
    return GPS(float(match.group(1)), float(match.group(2)), altitude)


def video_capture_time(tags: dict[str, str]) -> tuple[datetime | None, str | None]:
    """From a container's tags: QuickTime's local time with its offset, else the UTC
    creation_time."""
    local = _parse_iso(_first(tags, _LOCAL_CREATION_KEYS))
    if local is not None and local.tzinfo is not None:
        return local, local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    return _parse_iso(tags.get("creation_time")), None


def _parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def _audio_codec(probed: dict[str, Any]) -> str | None:
    for stream in probed.get("streams", []):
        if stream.get("codec_type") == "audio":
            return stream.get("codec_name")
    return None


def _first(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if tags.get(key):
            return tags[key]
    return None

