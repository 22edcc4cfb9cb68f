"""Proof that a file decodes, with the basic facts about it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import ffmpeg
from PIL import Image, UnidentifiedImageError

from mediasync.errors import MediaError
from mediasync.media.capture import capture_time
from mediasync.model import MediaType


@dataclass
class MediaInfo:
    format: str | None
    width: int | None
    height: int | None
    captured_at: datetime | None
    duration: float | None = None

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["captured_at"] = self.captured_at.isoformat() if self.captured_at else None
        return values


def probe(path: Path, media_type: MediaType) -> MediaInfo:
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: empty file", subject=path)
    if media_type == MediaType.IMAGE:
        return _probe_image(path)
    if media_type == MediaType.VIDEO:
        return _probe_video(path)
    raise MediaError(f"{path.name}: unsupported type", subject=path)


def _probe_image(path: Path) -> MediaInfo:
    try:
        with Image.open(path) as image:
            image.load()  # a full decode: truncated files fail here
            return MediaInfo(image.format, image.width, image.height,
                             capture_time(path, MediaType.IMAGE))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{path.name}: not a readable image ({exc})", subject=path) from None


def _probe_video(path: Path) -> MediaInfo:
    try:
        info = ffmpeg.probe(str(path))
    except ffmpeg.Error as exc:
        last = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        raise MediaError(f"{path.name}: not a readable video ({' '.join(last)})",
                         subject=path) from None
    video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), None)
    if video is None:
        raise MediaError(f"{path.name}: no video stream", subject=path)
    duration = info.get("format", {}).get("duration")
    return MediaInfo(info.get("format", {}).get("format_name"), video.get("width"),
                     video.get("height"), capture_time(path, MediaType.VIDEO),
                     float(duration) if duration else None)
