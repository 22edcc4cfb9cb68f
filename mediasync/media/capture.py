"""When a photo or video was taken, read cheaply (no pixel decoding) right after
download, because the archive lays files out by that date. The same parsers as step 5's
`read_metadata`, so both steps agree on the date."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from mediasync.errors import MediaError
from mediasync.media.exif import capture_time as exif_capture_time
from mediasync.media.metadata import (  # (loads the HEIF opener too)
    plausible_capture_time,
    video_capture_time,
)
from mediasync.media.quicktime import date_tags
from mediasync.media.types import extension
from mediasync.media.video import probe
from mediasync.model import MediaType

# MP4 and QuickTime files: their dates are read without starting ffprobe
_ISO_EXTENSIONS = frozenset({"mp4", "m4v", "mov", "3gp", "3g2"})


def capture_time(path: Path, media_type: MediaType) -> datetime | None:
    """The capture time, timezone-aware when the file says its offset; None if unknown or
    implausible (the caller falls back to the source's own time)."""
    when = None
    if media_type == MediaType.IMAGE:
        when = _image_capture_time(path)
    elif media_type == MediaType.VIDEO:
        when = _video_capture_time(path)
    return when if plausible_capture_time(when) else None


def _image_capture_time(path: Path) -> datetime | None:
    try:
        with Image.open(path) as image:  # reads the header, not the pixels
            return exif_capture_time(image.getexif())[0]
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None  # step 5 fails the file with the reason


def _video_capture_time(path: Path) -> datetime | None:
    tags = date_tags(path) if extension(path.name) in _ISO_EXTENSIONS else None
    if tags is None:
        try:
            tags = probe(path).get("format", {}).get("tags", {})
        except (MediaError, OSError):
            return None
    return video_capture_time(tags)[0]
