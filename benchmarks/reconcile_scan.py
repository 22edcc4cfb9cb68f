"""Reconciling 100,000 unchanged files (files/s, peak RSS) and hashing against sha256sum.

    uv run python benchmarks/reconcile_scan.py [--files 100000] [--dir /tmp/somewhere]

Each unchanged pass runs in a fresh process so that its peak RSS is its own (interpreter,
imports, the signature dict and the walk), not the tree generation's. Targets: at least
100,000 files/s and at most 150 MB for 100,000 unchanged files; hashing at least 0.9
times the speed of `sha256sum` on the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediasync.ledger.sqlite import SqliteLedger  # noqa: E402
from mediasync.records.scan import ScanOptions, reconcile  # noqa: E402

PER_FOLDER = 1000


def make_tree(root: Path, files: int) -> None:
    for i in range(files):
        folder = root / f"{i // PER_FOLDER // 10:03d}" / f"{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{i:06d}.JPG").write_bytes(i.to_bytes(4, "little") * (1 + i % 64))


def one_pass(tree: Path, db: Path) -> dict[str, float]:
    """A reconcile pass in this process, with this process's peak RSS."""
    ledger = SqliteLedger(db)
    cpu = time.process_time()
    stats = reconcile(ledger, tree)
    cpu = time.process_time() - cpu
    ledger.close()
    return {"scanned": stats.scanned, "added": stats.added, "updated": stats.updated,
            "removed": stats.removed, "seconds": stats.seconds, "cpu_seconds": cpu,
            "files_per_second": stats.files_per_second,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def pass_in_subprocess(tree: Path, db: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--one-pass", str(tree), str(db)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def make_big_files(folder: Path, count: int, size_mb: int) -> list[Path]:
    folder.mkdir(parents=True)
    block = os.urandom(1024 * 1024)
    paths = []
    for i in range(count):
        path = folder / f"VID_{i:03d}.MP4"
        with open(path, "wb") as handle:
            for _ in range(size_mb):
                handle.write(block)
        paths.append(path)
    return paths


def hashing(folder: Path, paths: list[Path], db: Path) -> dict[str, float]:
    """MB/s of a first reconcile pass (every file hashed) vs sha256sum, cache warm."""
    total_mb = sum(p.stat().st_size for p in paths) / 1e6
    subprocess.run(["cat", *map(str, paths)], check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, paths)], check=True, stdout=subprocess.DEVNULL)
    coreutils = time.perf_counter() - started
    ledger = SqliteLedger(db)
    stats = reconcile(ledger, folder, options=ScanOptions())
    ledger.close()
    single = time.perf_counter()
    from mediasync.files import sha256_file
    for path in paths:
        sha256_file(path)
    single = time.perf_counter() - single
    return {"total_mb": round(total_mb), "sha256sum_mb_s": total_mb / coreutils,
            "reconcile_mb_s": total_mb / stats.seconds,
            "sha256_file_one_thread_mb_s": total_mb / single,
            "ratio": coreutils / stats.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-files", type=int, default=16)
    parser.add_argument("--big-size-mb", type=int, default=32)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--one-pass", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_pass:
        print(json.dumps(one_pass(*args.one_pass)))
        return
    work = Path(tempfile.mkdtemp(prefix="reconcile-bench-", dir=args.dir))
    try:
        run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> None:
    tree, db = work / "tree", work / "ledger.db"
    started = time.perf_counter()
    make_tree(tree, args.files)
    print(f"made {args.files} files in {time.perf_counter() - started:.1f} s")
    first = pass_in_subprocess(tree, db)
    print(f"first pass (all new, all hashed): {first['files_per_second']:,.0f} files/s, "
          f"peak RSS {first['peak_rss_mb']:.0f} MB")
    passes = [pass_in_subprocess(tree, db) for _ in range(args.repeat)]
    assert all(p["added"] == p["updated"] == p["removed"] == 0 for p in passes)
    rates = [p["files_per_second"] for p in passes]
    cpu = statistics.median(p["cpu_seconds"] for p in passes)
    print(f"unchanged passes: {', '.join(f'{r:,.0f}' for r in rates)} files/s "
          f"(median {statistics.median(rates):,.0f}, best {max(rates):,.0f}); "
          f"CPU {cpu:.2f} s (both threads); "
          f"peak RSS {max(p['peak_rss_mb'] for p in passes):.0f} MB; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    paths = make_big_files(work / "big", args.big_files, args.big_size_mb)
    result = hashing(work / "big", paths, work / "hash.db")
    print(f"hashing {result['total_mb']} MB: sha256sum {result['sha256sum_mb_s']:,.0f} MB/s, "
          f"reconcile {result['reconcile_mb_s']:,.0f} MB/s "
          f"({result['ratio']:.2f}x), sha256_file on one thread "
          f"{result['sha256_file_one_thread_mb_s']:,.0f} MB/s")


if __name__ == "__main__":
    main()
