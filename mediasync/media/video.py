"""ffprobe and ffmpeg through ffmpeg-python: probing, proving a video decodes, and
running an encode with progress. No shell: arguments go to the process as a list, and
paths are absolute with the `file:` protocol so a name like `-x.mp4` or `a:b.mov` is
only ever a file name."""

from __future__ import annotations

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


def probe(path: Path) -> dict[str, Any]:
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: empty file", subject=path)
    try:
        return ffmpeg.probe(ffmpeg_path(path))
    except ffmpeg.Error as exc:
        raise MediaError(f"{path.name}: not a readable video: {_last_line(exc.stderr)}",
                         subject=path) from None


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


def verify_decodes(path: Path) -> None:
    """In one ffmpeg process, read every packet of every stream (catches truncation and
    damaged containers at disk speed) and decode every keyframe of the video (proves the
    codec works from the first frame to the last GOP). Decoding every frame would cost
    as much as the encode; a spawn per check costs ~80 ms here, so there is one."""
    source = ffmpeg.input(ffmpeg_path(path), skip_frame="nokey")
    packets = source.output("-", format="null", map="0", c="copy")
    keyframes = source["v:0"].output("-", format="null")
    run_checked(path, ffmpeg.merge_outputs(packets, keyframes))


def run_checked(path: Path, stream: Any) -> None:
    """Run to the end with -xerror; any error line or exit status fails the file."""
    args = ffmpeg.compile(stream.global_args("-nostdin", "-v", "error", "-xerror"))
    process = _popen(args)
    _, err = process.communicate()
    if process.returncode != 0 or err.strip():
        raise MediaError(f"{path.name}: video does not decode: {_last_line(err)}",
                         subject=path)


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
