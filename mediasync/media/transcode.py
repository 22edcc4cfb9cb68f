"""The `hevc` and `h264` strategies: re-encode a video with ffmpeg, keeping its
metadata (creation time, ISO 6709 location, make/model), its rotation flag, its colour
description and bit depth, its HDR static metadata (hevc) and its audio as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg

from mediasync.errors import MediaError
from mediasync.media.hdr import ColourFacts, x265_params
from mediasync.media.metadata import MediaInfo
from mediasync.media.refusal import Unsuitable
from mediasync.media.types import extension
from mediasync.media.udta import read_xyz, write_xyz
from mediasync.media.video import VideoProgress, ffmpeg_path, run_with_progress
from mediasync.settings import CompressionRule

# strategy: (encoder, default CRF, output options that encoder needs)
ENCODERS: dict[str, tuple[str, int, dict[str, str]]] = {
    # Apple players only play HEVC tagged hvc1; x265 logs to stderr unless told not to.
    "hevc": ("libx265", 28, {"tag:v": "hvc1", "x265-params": "log-level=error"}),
    "h264": ("libx264", 23, {"tag:v": "avc1"}),
}
CONTAINERS = {"mp4": "mp4", "m4v": "mp4", "mov": "mov"}
DEFAULT_PRESET = "medium"


def transcode(source: Path, target: Path, rule: CompressionRule, before: MediaInfo,
              colour: ColourFacts, progress: VideoProgress | None = None) -> dict[str, Any]:
    container = CONTAINERS.get(extension(source.name))
    if container is None:
        raise MediaError(f"{source.name}: cannot re-encode a .{extension(source.name)} video "
                         f"(mp4, m4v and mov only)", subject=source)
    encoder, default_crf, extra = ENCODERS[rule.strategy]
    if colour.has_static_metadata:
        if rule.strategy != "hevc":
            raise Unsuitable(f"its HDR mastering display and light level metadata cannot "
                             f"be written by {encoder}: use the hevc strategy")
        extra = {**extra, "x265-params": ":".join([extra["x265-params"],
                                                   *x265_params(colour)])}
    crf = rule.crf if rule.crf is not None else default_crf
    preset = rule.preset or DEFAULT_PRESET
    options: dict[str, Any] = {
        "format": container, "c:v": encoder, "crf": crf, "preset": preset, "c:a": "copy",
        "map_metadata": 0, "movflags": "+use_metadata_tags+faststart",
        # every frame once, at its own time: the copy has the original's frame count
        "fps_mode": "passthrough", **extra,
    }
    scale = scaled_size(before.width or 0, before.height or 0, rule.max_long_edge)
    if scale:
        # -vf, not a filter_complex: a simple filtergraph keeps the display matrix.
        options["vf"] = f"scale={scale[0]}:{scale[1]}"
    # -noautorotate: keep the stored pixels and the rotation flag, as the original has.
    source_input = ffmpeg.input(ffmpeg_path(source), noautorotate=None)
    stream = ffmpeg.output(source_input["v:0"], source_input["a?"], ffmpeg_path(target),
                           **options)
    xyz = read_xyz(source)  # before encoding: a file that cannot be read fails early
    run_with_progress(source, stream, before.duration or 0.0, progress)
    parameters = {"encoder": encoder, "crf": crf, "preset": preset, "container": container,
                  "scale": list(scale) if scale else None, "audio": "copy"}
    if xyz is not None:
        parameters["quicktime_xyz"] = "kept" if write_xyz(target, xyz) else "not kept"
    return parameters


def scaled_size(width: int, height: int, max_long_edge: int | None) -> tuple[int, int] | None:
    """Even dimensions with the long edge at most `max_long_edge`; None when it fits."""
    if not max_long_edge or max(width, height) <= max_long_edge:
        return None
    factor = max_long_edge / max(width, height)
    return max(2, round(width * factor / 2) * 2), max(2, round(height * factor / 2) * 2)
