"""Steps 1, 4, 5 and 8 over a mixed library against `cp -r` + `sha256sum` of the same data.

    uv run python benchmarks/pipeline_throughput.py [--files 2000] [--dir /tmp/bench]

Prints one JSON line. Both sides run in the same process tree on the same data, right
after each other; the page cache is dropped for the library before each side, so
neither reads it from memory left by the other.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from PIL import Image  # noqa: E402

from mediasync.media.samples import VideoSpec, video  # noqa: E402

KB, MB = 1000, 1000 * 1000


def _sizes(count: int, rng: random.Random) -> list[int]:
    """Log-uniform between 50 KB and 20 MB: many small photos, fewer large videos."""
    return [int(50 * KB * (400 ** rng.random())) for _ in range(count)]


def _jpeg_base(rng: random.Random, index: int) -> bytes:
    image = Image.effect_noise((480, 360), 40 + index % 60).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def make_library(root: Path, count: int, seed: int = 7) -> int:
    """Real JPEGs (padded after their end marker) and real MP4s (padded with a `free`
    box), each unique; returns the total bytes."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    bases = [_jpeg_base(rng, i) for i in range(16)]
    clip = video(root / "base.mp4", VideoSpec(seconds=1))
    mp4 = clip.read_bytes()
    clip.unlink()
    total = 0
    for i, size in enumerate(_sizes(count, rng)):
        is_video = size > 5 * MB and i % 2 == 0
        head = mp4 if is_video else bases[i % len(bases)]
        pad = max(size - len(head) - 8, 16)
        if is_video:
            tail = (pad + 8).to_bytes(4, "big") + b"free" + rng.randbytes(pad)
        else:
            tail = rng.randbytes(pad + 8)
        kind, ext = ("VID", "mp4") if is_video else ("IMG", "jpg")
        name = f"{i // 200:02d}/{kind}_{i:05d}.{ext}"
        path = root / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(head + tail)
        total += path.stat().st_size
    return total


def drop_cache(root: Path) -> None:
    for folder, _, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


def baseline(library: Path, target: Path, durable: bool = False) -> float:
    """`cp -r` then `sha256sum` of the copy. `durable` adds what the pipeline must do and
    plain cp does not: flush the copy to disk (`sync`) and hash it back from the disk."""
    drop_cache(library)
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(library), str(target)], check=True)
    if durable:
        subprocess.run(["sync", "-f", str(target)], check=True)
        drop_cache(target)
    files = [str(p) for p in target.rglob("*") if p.is_file()]
    subprocess.run(["sha256sum", *files], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def write_config(work: Path, library: Path) -> Path:
    (work / "nas").mkdir(parents=True)
    config = work / "mediasync.toml"
    config.write_text(
        f'[source]\nkind = "folder"\npath = "{library}"\n'
        '[ledger]\nurl = "sqlite:///mediasync.db"\n'
        '[workflow]\nnas_archive = "nas"\ncleanup_after_hours = 0\n'
        '[compression]\nenabled = false\n')
    return config


def pipeline(library: Path, work: Path) -> tuple[float, dict[int, float], int]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.media_sync import media_sync

    config = write_config(work, library)
    drop_cache(library)
    started = time.perf_counter()
    state = media_sync(config=str(config), return_state=True)
    elapsed = time.perf_counter() - started
    if not state.is_completed():
        raise SystemExit(f"pipeline failed: {state.message}")
    steps = {row["step"]: row["seconds"] for row in state.result()["steps"]}
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    return elapsed, steps, len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mediasync-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    library = args.dir / "library"
    total = make_library(library, args.files)

    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        base = baseline(library, args.dir / "baseline")
        shutil.rmtree(args.dir / "baseline")
        durable = baseline(library, args.dir / "baseline", durable=True)
        shutil.rmtree(args.dir / "baseline")
        ours, steps, task_runs = pipeline(library, args.dir / "work")
    print(json.dumps({
        "benchmark": "pipeline_steps_1_4_5_8", "files": args.files,
        "bytes": total, "baseline_cp_sha256sum_s": round(base, 2),
        "baseline_cp_sync_sha256sum_s": round(durable, 2),
        "mediasync_s": round(ours, 2), "ratio": round(ours / base, 2),
        "ratio_to_durable_baseline": round(ours / durable, 2),
        "step_seconds": steps, "task_runs_per_flow_run": task_runs,
    }))
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
