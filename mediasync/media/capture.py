"""When a photo or video was taken, read cheaply (no decoding) right after download,
because the archive lays files out by that date."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import ffmpeg
from PIL import Image, UnidentifiedImageError
from pillow_heif import register_heif_opener

from mediasync.model import MediaType

register_heif_opener()

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_DATETIME = 0x0132


def capture_time(path: Path, media_type: MediaType) -> datetime | None:
    """The capture time, timezone-aware when the file says its offset; None if unknown."""
    if media_type == MediaType.IMAGE:
        return _image_capture_time(path)
    if media_type == MediaType.VIDEO:
        return _video_capture_time(path)
    return None


def _image_capture_time(path: Path) -> datetime | None:
    try:
        with Image.open(path) as image:
            exif = image.getexif()
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    sub = exif.get_ifd(_EXIF_IFD)
    text = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(text, str):
        return None
    try:
        taken = datetime.strptime(text.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = sub.get(_OFFSET_TIME_ORIGINAL)
    return taken.replace(tzinfo=_parse_offset(offset)) if isinstance(offset, str) else taken


def _parse_offset(text: str) -> timezone | None:
    text = text.strip("\x00 ")
    try:
        sign = -1 if text.startswith("-") else 1
        hours, minutes = text.lstrip("+-").split(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    except ValueError:
        return None


def _video_capture_time(path: Path) -> datetime | None:
    try:
        probe = ffmpeg.probe(str(path))
    except (ffmpeg.Error, OSError):
        return None
    tags = probe.get("format", {}).get("tags", {})
    text = tags.get("creation_time") or tags.get("com.apple.quicktime.creationdate")
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
