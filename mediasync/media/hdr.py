"""A video's colour description and HDR static metadata (mastering display, content
light level), read from its first frame with ffprobe, handed to x265 (ffmpeg 5.1 does
not pass them on by itself) and compared by meaning in the copy."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from mediasync.errors import MediaError
from mediasync.media.video import ffmpeg_path

_HDR_TRANSFERS = ("smpte2084", "arib-std-b67")  # PQ, HLG
_BITS = re.compile(r"p(\d+)(?:le|be)$")  # yuv420p10le -> 10
# x265's --master-display: chromaticities in 1/50000, luminance in 1/10000 (cd/m2)
_PRIMARIES = (("G", "green"), ("B", "blue"), ("R", "red"), ("WP", "white_point"))

_MASTERING_KEYS = {f"{name}_{axis}" for _, name in _PRIMARIES for axis in "xy"} | {
    "min_luminance", "max_luminance"}


@dataclass(frozen=True)
class ColourFacts:
    pix_fmt: str | None = None
    transfer: str | None = None
    primaries: str | None = None
    matrix: str | None = None
    mastering: dict[str, Fraction] | None = None  # red_x ... max_luminance
    light_level: tuple[int, int] | None = None  # MaxCLL, MaxFALL

    @property
    def bits(self) -> int:
        match = _BITS.search(self.pix_fmt or "")
        return int(match.group(1)) if match else 8

    @property
    def has_static_metadata(self) -> bool:
        return self.mastering is not None or self.light_level is not None

    def as_dict(self) -> dict[str, Any]:
        mastering = {k: str(v) for k, v in self.mastering.items()} if self.mastering else None
        return {"pix_fmt": self.pix_fmt, "transfer": self.transfer,
                "primaries": self.primaries, "matrix": self.matrix,
                "mastering_display": mastering,
                "content_light_level": list(self.light_level) if self.light_level else None}


def read_colour(path: Path) -> ColourFacts:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
         "-show_frames", "-show_entries", "frame=side_data_list:stream=pix_fmt,"
         "color_transfer,color_primaries,color_space", "-of", "json", ffmpeg_path(path)],
        stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise MediaError(f"{path.name}: cannot read its colour description", subject=path)
    found = json.loads(done.stdout)
    stream = (found.get("streams") or [{}])[0]
    side = [entry for frame in found.get("frames", [])[:1]
            for entry in frame.get("side_data_list", [])]
    return ColourFacts(
        pix_fmt=stream.get("pix_fmt"), transfer=_named(stream.get("color_transfer")),
        primaries=_named(stream.get("color_primaries")),
        matrix=_named(stream.get("color_space")), mastering=_mastering(side),
        light_level=_light_level(side))


def x265_params(facts: ColourFacts) -> list[str]:
    """The x265 parameters that write the original's static metadata into the copy."""
    params = []
    if facts.mastering:
        m = facts.mastering
        points = "".join(f"{key}({round(m[f'{name}_x'] * 50000)},"
                         f"{round(m[f'{name}_y'] * 50000)})" for key, name in _PRIMARIES)
        params.append(f"master-display={points}L({round(m['max_luminance'] * 10000)},"
                      f"{round(m['min_luminance'] * 10000)})")
    if facts.light_level:
        params.append(f"max-cll={facts.light_level[0]},{facts.light_level[1]}")
    return params


def colour_lost(before: ColourFacts, after: ColourFacts) -> str | None:
    """What the copy changed in how its colours are meant, in words; None if nothing."""
    if after.bits < before.bits:
        return f"has {after.bits}-bit colour instead of {before.bits}-bit"
    for name in ("transfer", "primaries", "matrix"):
        if getattr(before, name) and getattr(after, name) != getattr(before, name):
            return (f"changed its colour {name} from {getattr(before, name)} to "
                    f"{getattr(after, name)}")
    if before.mastering and after.mastering != before.mastering:
        return "lost its HDR mastering display metadata"
    if before.light_level and after.light_level != before.light_level:
        return "lost its HDR content light level (MaxCLL/MaxFALL)"
    return None


def _named(value: str | None) -> str | None:
    return None if value in (None, "unknown", "reserved") else value


def _mastering(side: list[dict[str, Any]]) -> dict[str, Fraction] | None:
    for entry in side:
        if entry.get("side_data_type") == "Mastering display metadata":
            try:
                found = {key: Fraction(value) for key, value in entry.items()
                         if key != "side_data_type"}
            except (ValueError, ZeroDivisionError):
                return None
            return found if found.keys() >= _MASTERING_KEYS else None
    return None


def _light_level(side: list[dict[str, Any]]) -> tuple[int, int] | None:
    for entry in side:
        if entry.get("side_data_type") == "Content light level metadata":
            return int(entry.get("max_content", 0)), int(entry.get("max_average", 0))
    return None
