"""Media type by file extension: the cheap first guess, before any decoding."""

from __future__ import annotations

from pathlib import PurePath

from mediasync.model import MediaType

IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "heic", "heif", "gif", "tif", "tiff",
                              "webp", "dng", "bmp"})
VIDEO_EXTENSIONS = frozenset({"mp4", "mov", "m4v", "avi", "mkv", "3gp", "mts", "webm"})
SIDECAR_EXTENSIONS = frozenset({"aae", "xmp", "thm"})


def extension(name: str) -> str:
    return PurePath(name).suffix.lower().lstrip(".")


def media_type_of(name: str) -> MediaType:
    ext = extension(name)
    if ext in IMAGE_EXTENSIONS:
        return MediaType.IMAGE
    if ext in VIDEO_EXTENSIONS:
        return MediaType.VIDEO
    if ext in SIDECAR_EXTENSIONS:
        return MediaType.SIDECAR
    return MediaType.OTHER
