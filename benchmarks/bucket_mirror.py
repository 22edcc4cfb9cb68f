"""Listing and mirroring 2,000 small objects: mediasync's bucket mirror against a sequential,
one-request-at-a-time loop (folder by folder listing, then one download after another),
in the same run against the same local Storage server.

The server runs in its own process and waits `--latency` seconds before each answer, a
stand-in for the round trip to a hosted Supabase project (on loopback every request
would cost next to nothing and the comparison would only measure Python).

    uv run python benchmarks/bucket_mirror.py [--objects 2000] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr  # noqa: E402

from mediasync.bucket.sync import SyncJob, mirror  # noqa: E402
from mediasync.settings import BucketSettings, Settings  # noqa: E402
from mediasync.sources.bucket import BucketSource  # noqa: E402
from tests.fakes.storage_server import FakeStorage  # noqa: E402

BUCKET = "media"
KEY = "benchmark-key"


def serve(root: Path, objects: int, latency: float, pipe: Connection) -> None:
    with FakeStorage(root, BUCKET, KEY) as storage:
        for i in range(objects):
            key = f"dev{i % 4}/2025/01/{i // 100 % 28 + 1:02d}/{i:06d}.mp4"
            storage.put(BUCKET, key, (key * 40).encode())
        storage.latency = latency
        pipe.send(storage.url)
        pipe.recv()  # until told to stop


def sequential(source: BucketSource, registry: Path) -> int:
    """The loop the old job ran, without its threads: list folder after folder, 100 at a
    time, then fetch each object with one request and write it."""
    storage = source.connection.client.storage.from_(BUCKET)
    folders, keys = [""], []
    while folders:
        folder = folders.pop()
        offset = 0
        while True:
            page = storage.list(folder, {"limit": 100, "offset": offset})
            for entry in page:
                path = f"{folder}/{entry['name']}" if folder else entry["name"]
                (folders if entry["id"] is None else keys).append(path)
            if len(page) < 100:
                break
            offset += 100
    for key in keys:
        dest = registry / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(storage.download(key))
    return len(keys)


def mediasync_mirror(source: BucketSource, settings: Settings) -> int:
    objects = list(source.list_objects())
    job = SyncJob.from_settings(settings, source)
    result = mirror(job, objects)
    assert not result.failed, result.failed
    return result.downloaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--parallelism", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mediasync-bucket-bench-"))
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(work / "remote", args.objects,
                                                         args.latency, theirs))
    server.start()
    try:
        url = ours.recv()
        settings = Settings(bucket=BucketSettings(
            url=url, service_key=SecretStr(KEY), bucket=BUCKET, registry=work / "ours",
            missing_list=work / "missing.txt", parallelism=args.parallelism))
        source = BucketSource.from_settings(settings.bucket)
        started = time.perf_counter()
        seq_count = sequential(source, work / "sequential")
        seq_seconds = time.perf_counter() - started
        started = time.perf_counter()
        our_count = mediasync_mirror(source, settings)
        our_seconds = time.perf_counter() - started
        source.close()
    finally:
        ours.send("stop")
        server.join(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    assert seq_count == our_count == args.objects
    print(f"objects: {args.objects}, latency per request: {args.latency * 1000:.0f} ms, "
          f"parallelism: {args.parallelism}")
    print(f"sequential loop:  {seq_seconds:6.2f} s  ({seq_count / seq_seconds:7.1f} objects/s)")
    print(f"mediasync mirror: {our_seconds:6.2f} s  ({our_count / our_seconds:7.1f} objects/s)")
    print(f"speed-up: {seq_seconds / our_seconds:.1f}x (target: at least 3x)")


if __name__ == "__main__":
    main()
