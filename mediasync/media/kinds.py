"""What kind of file a name says it is, before anything is opened."""

from __future__ import annotations

from pathlib import Path

from mediasync.model import MediaType

IMAGE_FORMATS = frozenset(
    {"jpg", "jpeg", "png", "heic", "heif", "webp", "gif", "tif", "tiff", "bmp"}
)
VIDEO_FORMATS = frozenset({"mp4", "mov", "m4v", "3gp", "mkv", "avi", "webm"})
# Apple's photo-edit sidecars and XMP files carry no pixels of their own.
SIDECAR_FORMATS = frozenset({"aae", "xmp"})


def extension(path: Path | str) -> str:
    """Lower-case extension without the dot ('' when there is none)."""
    return Path(path).suffix.lower().lstrip(".")


def classify(path: Path | str) -> MediaType:
    ext = extension(path)
    if ext in IMAGE_FORMATS:
        return MediaType.IMAGE
    if ext in VIDEO_FORMATS:
        return MediaType.VIDEO
    if ext in SIDECAR_FORMATS:
        return MediaType.SIDECAR
    return MediaType.OTHER
