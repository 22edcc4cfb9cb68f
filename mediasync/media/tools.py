"""Versions of the tools that made a compressed file, recorded beside it."""

from __future__ import annotations

import subprocess
from functools import cache

import PIL
import pillow_heif


def image_tools() -> dict[str, str]:
    return {"pillow": PIL.__version__, "pillow_heif": pillow_heif.__version__,
            "libheif": pillow_heif.libheif_version()}


def video_tools() -> dict[str, str]:
    """Asks ffmpeg once per process; image workers never start it just to ask."""
    return {"ffmpeg": ffmpeg_version()}


@cache
def ffmpeg_version() -> str:
    try:
        first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True,
                               check=True, stdin=subprocess.DEVNULL).stdout.split("\n")[0]
    except (OSError, subprocess.CalledProcessError):
        return "unavailable"
    # "ffmpeg version 5.1.9-0+deb12u1 Copyright ..."
    parts = first.split()
    return parts[2] if len(parts) > 2 else first
