"""Step 6's compression against the plain tools, on media generated here.

Videos: `compress_file` (probe, decode check, encode with progress, check of the result,
atomic publish) against the plain `ffmpeg` command line with the same settings, on the
same files. Target: at most 1.05 times the plain command.

Images: `compress_many` with its process pool against a single-process loop over the same
`compress_file`, and against a bare Pillow loop (open, save JPEG, no checks). Target: the
pool at least 1.8 times the single-process loop on 2 cores.

    uv run python benchmarks/media_compress.py [--videos 2 --seconds 4 --images 64]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import ffmpeg
from PIL import Image

from mediasync.media import samples
from mediasync.media.compress import CompressJob, compress_file
from mediasync.media.parallel import compress_many
from mediasync.media.video import ffmpeg_path
from mediasync.settings import CompressionRule, CompressionSettings

CRF, PRESET, QUALITY = 28, "fast", 85


def make_videos(folder: Path, count: int, seconds: float) -> list[Path]:
    """720p30 test pattern with grain and a tone: moves and compresses like footage."""
    folder.mkdir(parents=True)
    made = []
    created = f"creation_time={datetime(2020, 1, 1, tzinfo=UTC):%Y-%m-%dT%H:%M:%SZ}"
    for i in range(count):
        path = folder / f"clip {i}.mp4"
        video = ffmpeg.input("testsrc2=size=1280x720:rate=30", f="lavfi", t=seconds) \
            .filter("noise", alls=12, allf="t")
        audio = ffmpeg.input(f"sine=frequency={440 + 100 * i}", f="lavfi", t=seconds)
        ffmpeg.output(video, audio, ffmpeg_path(path), vcodec="libx264", preset="veryfast",
                      crf=18, pix_fmt="yuv420p", acodec="aac", movflags="+faststart",
                      metadata=created,
                      ).global_args("-nostdin", "-y", "-v", "error").run(capture_stdout=True,
                                                                         capture_stderr=True)
        made.append(path)
    return made


def make_images(folder: Path, count: int) -> list[Path]:
    first = samples.photo(folder / "photo 0.jpg",
                          samples.PhotoSpec(size=(4032, 3024), orientation=6, quality=95))
    copies = [first]
    for i in range(1, count):
        copies.append(folder / f"photo {i}.jpg")
        shutil.copyfile(first, copies[-1])
    return copies


def plain_ffmpeg(source: Path, target: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-y", "-v", "error", "-noautorotate", "-i", str(source),
         "-map", "0:v:0", "-map", "0:a?", "-c:v", "libx265", "-crf", str(CRF), "-preset",
         PRESET, "-tag:v", "hvc1", "-x265-params", "log-level=error", "-c:a", "copy",
         "-map_metadata", "0", "-movflags", "+use_metadata_tags+faststart", str(target)],
        check=True, capture_output=True)


def plain_pillow(source: Path, target: Path) -> None:
    with Image.open(source) as image:
        image.save(target, "JPEG", quality=QUALITY, exif=image.info.get("exif", b""),
                   icc_profile=image.info.get("icc_profile"))


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of this process and of every finished child (ffmpeg, ffprobe): unlike
    wall time, it hardly changes when other work shares the machine."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_cpu(action: Callable[[], object]) -> tuple[float, float]:
    start_cpu, start = cpu_seconds(), time.perf_counter()
    action()
    return time.perf_counter() - start, cpu_seconds() - start_cpu


def bench_videos(work: Path, count: int, seconds: float, runs: int) -> dict[str, float]:
    videos = make_videos(work / "videos", count, seconds)
    settings = CompressionSettings(min_saving=0, rules=[CompressionRule(
        media_type="video", strategy="hevc", crf=CRF, preset=PRESET)])
    out = work / "out-videos"
    out.mkdir()

    def ours() -> None:
        for v in videos:
            result = compress_file(CompressJob(v, out / f"ours {v.name}"), settings,
                                   progress=lambda done, total: None)
            assert result.status == "compressed", result.reason

    def plain() -> None:
        for v in videos:
            plain_ffmpeg(v, out / f"plain {v.name}")

    # alternate the two so that machine noise hits both alike
    ours_runs, plain_runs = [], []
    for run in range(runs):
        plain_runs.append(timed_cpu(plain))
        ours_runs.append(timed_cpu(ours))
        print(f"  video run {run + 1}: plain {plain_runs[-1][0]:.1f} s "
              f"({plain_runs[-1][1]:.1f} CPU s), step 6 {ours_runs[-1][0]:.1f} s "
              f"({ours_runs[-1][1]:.1f} CPU s)", flush=True)
    ours_s, plain_s = (statistics.median(r[0] for r in runs_) for runs_ in (ours_runs, plain_runs))
    ours_cpu, plain_cpu = (statistics.median(r[1] for r in runs_)
                           for runs_ in (ours_runs, plain_runs))
    return {"videos": count, "seconds_each": seconds, "step6_s": ours_s,
            "plain_ffmpeg_s": plain_s, "ratio": ours_s / plain_s,
            "step6_cpu_s": ours_cpu, "plain_cpu_s": plain_cpu,
            "cpu_ratio": ours_cpu / plain_cpu}


def bench_images(work: Path, count: int, runs: int) -> dict[str, float]:
    images = make_images(work / "images", count)
    settings = CompressionSettings(min_saving=0, rules=[CompressionRule(
        media_type="image", strategy="jpeg", quality=QUALITY)])
    out = work / "out-images"

    def jobs(tag: str) -> list[CompressJob]:
        return [CompressJob(p, out / tag / p.name) for p in images]

    def pool() -> None:
        results = compress_many(jobs("pool"), settings)
        assert all(r.status == "compressed" for r in results)

    def loop() -> None:
        for job in jobs("loop"):
            assert compress_file(job, settings).status == "compressed"

    def bare() -> None:
        (out / "bare").mkdir(parents=True, exist_ok=True)
        for p in images:
            plain_pillow(p, out / "bare" / p.name)

    times: dict[str, list[float]] = {"pool": [], "loop": [], "bare": []}
    for run in range(runs):  # alternated, as for the videos
        for name, action in (("pool", pool), ("loop", loop), ("bare", bare)):
            times[name].append(timed(action))
        print(f"  image run {run + 1}: " + ", ".join(
            f"{name} {values[-1]:.1f} s" for name, values in times.items()), flush=True)
    pool_s, loop_s, bare_s = (statistics.median(times[n]) for n in ("pool", "loop", "bare"))
    return {"images": count, "cores": os.cpu_count() or 1,
            "pool_images_per_s": count / pool_s, "loop_images_per_s": count / loop_s,
            "bare_pillow_images_per_s": count / bare_s, "pool_vs_loop": loop_s / pool_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediasync-bench-") as tmp:
        work = Path(tmp)
        video = bench_videos(work, args.videos, args.seconds, args.runs) \
            if args.videos else None
        image = bench_images(work, args.images, args.runs)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if video:
        print_videos(video)
    print_images(image)


def print_videos(video: dict[str, float]) -> None:
    print(f"videos: {video['videos']} x {video['seconds_each']:.0f} s 720p30, HEVC CRF {CRF} "
          f"preset {PRESET}: step 6 {video['step6_s']:.1f} s, plain ffmpeg "
          f"{video['plain_ffmpeg_s']:.1f} s, ratio {video['ratio']:.3f} (target <= 1.05); "
          f"CPU {video['step6_cpu_s']:.1f} s vs {video['plain_cpu_s']:.1f} s, "
          f"ratio {video['cpu_ratio']:.3f}")


def print_images(image: dict[str, float]) -> None:
    print(f"images: {image['images']} x 12 MP JPEG -> q{QUALITY}, {image['cores']} cores: "
          f"pool {image['pool_images_per_s']:.2f}/s, single-process loop "
          f"{image['loop_images_per_s']:.2f}/s, speed-up {image['pool_vs_loop']:.2f}x "
          f"(target >= 1.8); bare Pillow loop (no checks) "
          f"{image['bare_pillow_images_per_s']:.2f}/s")


if __name__ == "__main__":
    main()
