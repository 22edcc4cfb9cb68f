"""Step 6 against the plain tool with the same settings, one rule at a time, with the
likeness proof's own cost reported apart.

For each rule (`hevc`, `h264`, `jpeg`), `compress_file` (probe, colour read, encode,
decode check, likeness, facts compared, fsync, atomic publish) runs beside the plain
tool with the same settings: the `ffmpeg` command line for videos, a bare Pillow loop
(open, save JPEG with the same quality, optimize, EXIF and ICC) for images. Both run in
one process at a time, alternated, medians of the runs. The likeness seconds are those
step 6 records in `compression_metadata.likeness.seconds`. Target: step 6 at or under
1.1 times the plain tool.

    uv run python benchmarks/compress_fidelity.py [--videos 1 --seconds 4 --images 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from media_compress import make_images, make_videos, timed_cpu  # type: ignore[import-not-found]
from PIL import Image

from mediasync.media.compress import CompressJob, compress_file
from mediasync.settings import CompressionRule, CompressionSettings

CRF = {"hevc": 28, "h264": 23}
ENCODER = {"hevc": ["libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error"],
           "h264": ["libx264", "-tag:v", "avc1"]}
PRESET, QUALITY = "fast", 85


def plain_ffmpeg(strategy: str, source: Path, target: Path) -> None:
    encoder, *extra = ENCODER[strategy]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-y", "-v", "error", "-noautorotate", "-i", str(source),
         "-map", "0:v:0", "-map", "0:a?", "-c:v", encoder, "-crf", str(CRF[strategy]),
         "-preset", PRESET, *extra, "-c:a", "copy", "-fps_mode", "passthrough",
         "-map_metadata", "0", "-movflags", "+use_metadata_tags+faststart", str(target)],
        check=True, capture_output=True)


def plain_pillow(source: Path, target: Path) -> None:
    with Image.open(source) as image:
        image.save(target, "JPEG", quality=QUALITY, optimize=True,
                   exif=image.info.get("exif", b""), icc_profile=image.info.get("icc_profile"))


def side_by_side(name: str, files: list[Path], rule: CompressionRule,
                 plain: Callable[[Path, Path], None], out: Path,
                 runs: int) -> dict[str, float | str]:
    settings = CompressionSettings(min_saving=0, rules=[rule])
    likeness: list[float] = []

    def ours() -> None:
        total = 0.0
        for path in files:
            result = compress_file(CompressJob(path, out / "ours" / path.name), settings)
            assert result.status == "compressed", result.reason
            total += result.metadata["likeness"]["seconds"]
        likeness.append(total)

    def theirs() -> None:
        (out / "plain").mkdir(parents=True, exist_ok=True)
        for path in files:
            plain(path, out / "plain" / path.name)

    ours_runs, plain_runs = [], []
    for run in range(runs):  # alternated: machine noise hits both alike
        plain_runs.append(timed_cpu(theirs))
        ours_runs.append(timed_cpu(ours))
        print(f"  {name} run {run + 1}: plain {plain_runs[-1][0]:.2f} s, step 6 "
              f"{ours_runs[-1][0]:.2f} s (likeness {likeness[-1]:.2f} s)", flush=True)
    ours_s = statistics.median(r[0] for r in ours_runs)
    plain_s = statistics.median(r[0] for r in plain_runs)
    likeness_s = statistics.median(likeness)
    return {"rule": name, "files": len(files), "plain_s": plain_s, "step6_s": ours_s,
            "likeness_s": likeness_s, "ratio": ours_s / plain_s,
            "ratio_without_likeness": (ours_s - likeness_s) / plain_s,
            "cpu_ratio": statistics.median(r[1] for r in ours_runs)
            / statistics.median(r[1] for r in plain_runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mediasync-bench-") as tmp:
        work = Path(tmp)
        videos = make_videos(work / "videos", args.videos, args.seconds)
        for strategy in ("hevc", "h264") if videos else ():
            rule = CompressionRule(media_type="video", strategy=strategy,
                                   crf=CRF[strategy], preset=PRESET)
            rows.append(side_by_side(
                strategy, videos, rule,
                lambda s, t, strategy=strategy: plain_ffmpeg(strategy, s, t),
                work / strategy, args.runs))
        images = make_images(work / "images", args.images)
        rule = CompressionRule(media_type="image", strategy="jpeg", quality=QUALITY)
        rows.append(side_by_side("jpeg", images, rule, plain_pillow, work / "jpeg",
                                 args.runs))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("| rule | files | plain s | step 6 s | of which likeness s | ratio | ratio without "
          "likeness | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['rule']} | {row['files']} | {row['plain_s']:.2f} | "
              f"{row['step6_s']:.2f} | {row['likeness_s']:.2f} | {row['ratio']:.3f} | "
              f"{row['ratio_without_likeness']:.3f} | {row['cpu_ratio']:.3f} |")


if __name__ == "__main__":
    main()
