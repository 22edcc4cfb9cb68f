"""ffprobe and ffmpeg: probing, proving a video decodes, and running an encode with
progress (built with ffmpeg-python). No shell: arguments go to the process as a list, and
paths are absolute with the `file:` protocol so a name like `-x.mp4` or `a:b.mov` is
only ever a file name."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import ffmpeg

from mediasync.errors import MediaError

VideoProgress = Callable[[float, float], None]  # (done_seconds, total_seconds)
_STDERR_LINES_KEPT = 20
_CONTEXT_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\] ")  # "[mov,mp4,... @ 0x55d1] "


def ffmpeg_path(path: Path) -> str:
    return f"file:{path.resolve()}"


def probe(path: Path, verify: bool = False) -> dict[str, Any]:
    """ffprobe's format and streams. With `verify`, the same process also reads every
    packet of every stream (truncation, a damaged container) and decodes every keyframe
    (the codec works from the first frame to the last GOP): one process, because
    starting ffprobe costs ~80 ms here, more than checking a phone clip. Decoding every
    frame would cost as much as re-encoding it."""
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: empty file", subject=path)
    checks = ["-skip_frame", "nokey", "-count_packets", "-count_frames"] if verify else []
    done = subprocess.run(
        ["ffprobe", "-v", "error", *checks, "-show_format", "-show_streams", "-of", "json",
         ffmpeg_path(path)], stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise MediaError(f"{path.name}: not a readable video: {_last_line(done.stderr)}",
                         subject=path)
    if verify and done.stderr.strip():
        raise MediaError(f"{path.name}: video does not decode: {_last_line(done.stderr)}",
                         subject=path)
    info: dict[str, Any] = json.loads(done.stdout)
    if verify and _read_count(video_stream(info, path), "nb_read_frames") == 0:
        raise MediaError(f"{path.name}: video does not decode: no frame decoded",
                         subject=path)
    return info


def _read_count(stream: dict[str, Any], key: str) -> int:
    value = stream.get(key)
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def video_stream(info: dict[str, Any], path: Path) -> dict[str, Any]:
    for stream in info.get("streams", []):
        if stream.get("codec_type") == "video" and not _is_cover_art(stream):
            return stream
    raise MediaError(f"{path.name}: no video stream", subject=path)


def duration_of(info: dict[str, Any]) -> float | None:
    value = info.get("format", {}).get("duration")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def run_with_progress(path: Path, stream: Any, total_seconds: float,
                      progress: VideoProgress | None) -> None:
    """Run an ffmpeg encode, reading `-progress pipe:1` blocks from stdout while a thread
    drains stderr (x265 writes there whatever the log level; a full pipe blocks ffmpeg).
    Any error line fails it: a copy made past a damaged frame is not kept."""
    args = ffmpeg.compile(stream.global_args(
        "-nostdin", "-y", "-v", "error", "-xerror", "-nostats", "-progress", "pipe:1"))
    process = _popen(args)
    errors: deque[str] = deque(maxlen=_STDERR_LINES_KEPT)
    drain = threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True)
    drain.start()
    assert process.stdout is not None
    for raw in process.stdout:
        done = _progress_seconds(raw)
        if done is not None and progress is not None:
            progress(min(done, total_seconds), total_seconds)
    process.wait()
    drain.join()
    if process.returncode != 0 or errors:
        last = _CONTEXT_PREFIX.sub("", errors[-1]) if errors \
            else f"exit status {process.returncode}"
        raise MediaError(f"{path.name}: ffmpeg failed: {last}", subject=path)
    if progress is not None:
        progress(total_seconds, total_seconds)


def _popen(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _progress_seconds(raw: bytes) -> float | None:
    key, _, value = raw.decode("ascii", "replace").strip().partition("=")
    if key != "out_time_us" or not value.lstrip("-").isdigit():
        return None
    return max(int(value), 0) / 1e6


def _drain(pipe: IO[bytes] | None, lines: deque[str]) -> None:
    if pipe is None:
        return
    for raw in pipe:
        text = raw.decode("utf-8", "replace").strip()
        if text:
            lines.append(text)


def _last_line(stderr: bytes | None) -> str:
    lines = [line for line in (stderr or b"").decode("utf-8", "replace").splitlines()
             if line.strip()]
    return _CONTEXT_PREFIX.sub("", lines[-1].strip()) if lines else "no detail from ffmpeg"


def _is_cover_art(stream: dict[str, Any]) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))
