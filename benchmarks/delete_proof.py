"""Step 7's delete-time proof against `sha256sum` of the same files, in the same run.

    uv run python benchmarks/delete_proof.py [--files 400] [--size-mb 2.5] [--rounds 3]
                                             [--parallel 8] [--dir /tmp/bench-proof]

Random files are laid out as an archive on this disk. Each round drops the page cache of
every file (posix_fadvise DONTNEED, as the proof itself does before each read) before
each of: one `sha256sum` process over all the files, one `cat` of them (reading them once,
no hash), the proof on the mounted archive (`NasArchive`), and the proof on the same
folder served as an SFTP archive by a throwaway OpenSSH server on loopback (the tests'
one), once with the server's hasher chosen by the archive's probe (`verify = "auto"`) and
once reading the bytes back over SFTP (`verify = "read"`). Every proof must pass every
file. Prints one JSON line per round and one with the best of each and its ratio to the
best `sha256sum`; the order of the five turns by one each round.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediasync.model import MediaFile, MediaType  # noqa: E402
from mediasync.nas.archive import NasArchive  # noqa: E402
from mediasync.nas.sftp import SftpArchive  # noqa: E402
from mediasync.pipeline.delete_proof import ArchiveCopies  # noqa: E402
from mediasync.settings import Settings, SftpArchiveSettings  # noqa: E402
from tests.sftp.sshd import Sshd, start_sshd  # noqa: E402

MB = 1000 * 1000


def make_archive(root: Path, count: int, size: int) -> list[MediaFile]:
    rows = []
    for i in range(count):
        path = root / f"{2020 + i % 5}" / f"{1 + i % 12:02d}" / f"IMG_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = os.urandom(size)
        path.write_bytes(body)
        digest = hashlib.sha256(body).hexdigest()
        rows.append(MediaFile(source="bench", source_id=path.name, filename=path.name, id=i + 1,
                              size=size, content_hash=digest, nas_hash=digest,
                              nas_path=str(path), nas_archived=True,
                              media_type=MediaType.IMAGE))
    os.sync()
    return rows


def drop_cache(rows: list[MediaFile]) -> None:
    for row in rows:
        fd = os.open(row.nas_path or "", os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def timed(rows: list[MediaFile], work: Callable[[], object]) -> float:
    drop_cache(rows)
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def each_file(command: list[str], rows: list[MediaFile]) -> None:
    """`command` over every file, as few processes as xargs needs."""
    paths = [row.nas_path or "" for row in rows]
    subprocess.run(["xargs", "-0", *command], input="\0".join(paths).encode(),
                   stdout=subprocess.DEVNULL, check=True)


def prove(archive: NasArchive | SftpArchive, rows: list[MediaFile]) -> None:
    refused = ArchiveCopies(archive).refusals(rows)
    assert not refused, f"{len(refused)} refused, e.g. {next(iter(refused.values()))}"


def sftp_archive(sshd: Sshd, root: Path, verify: str, parallel: int) -> SftpArchive:
    config = SftpArchiveSettings(host="127.0.0.1", port=sshd.port, key_file=sshd.user_key,
                                 known_hosts=sshd.known_hosts, root=str(root), verify=verify,
                                 parallel_transfers=parallel, upload="asyncssh")
    archive = SftpArchive(config, Settings())
    archive.check()  # as step 7 does: picks the server's hasher
    return archive


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--size-mb", type=float, default=2.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8,
                        help="sftp.archive.parallel_transfers")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-proof"))
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    sshd = start_sshd(args.dir / "sshd")
    root = args.dir / "nas"
    try:
        rows = make_archive(root, args.files, int(args.size_mb * MB))
        local = NasArchive(root)
        served = sftp_archive(sshd, root, "auto", args.parallel)
        read_back = sftp_archive(sshd, root, "read", args.parallel)
        sides: dict[str, Callable[[], object]] = {
            "sha256sum": lambda: each_file(["sha256sum", "--"], rows),
            "cat": lambda: each_file(["cat", "--"], rows),
            "local": lambda: prove(local, rows),
            "sftp_server_hash": lambda: prove(served, rows),
            "sftp_read_back": lambda: prove(read_back, rows),
        }
        best = {name: float("inf") for name in sides}
        for n in range(args.rounds):
            names = list(sides)
            order = names[n % len(names):] + names[:n % len(names)]  # none always first
            seconds = {name: timed(rows, sides[name]) for name in order}
            seconds = {name: seconds[name] for name in names}
            best = {name: min(best[name], seconds[name]) for name in sides}
            print(json.dumps({"round": n, **{k: round(v, 2) for k, v in seconds.items()}}))
        gb = args.files * args.size_mb * MB / 1e9
        print(json.dumps({
            "files": args.files, "gb": round(gb, 3),
            **{f"best_{k}_s": round(v, 2) for k, v in best.items()},
            **{f"{k}_s_per_gb": round(v / gb, 2) for k, v in best.items()},
            **{f"{k}_ms_per_file": round(1000 * v / args.files, 2) for k, v in best.items()},
            **{f"ratio_{k}": round(v / best["sha256sum"], 2) for k, v in best.items()
               if k != "sha256sum"},
            "server_hasher": served.hasher, "cpus": os.cpu_count(),
            "load": os.getloadavg()[0]}))
        served.close()
        read_back.close()
    finally:
        sshd.stop()
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
