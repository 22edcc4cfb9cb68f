"""Step 4 archiving over SFTP against `scp -r` of the same files, to the same sshd.

    uv run python benchmarks/sftp_archive.py [--files 500] [--size-mb 2] [--rounds 2]
                                             [--parallel 16] [--upload auto]
                                             [--dir /tmp/bench-sftp]

A throwaway OpenSSH server on loopback (the tests' one) serves a folder on this disk.
Each round runs `scp -r` and then the real step 4 core (verified store of every file,
ledger updates) into fresh folders; scp verifies nothing, step 4 re-hashes every file on
the server, with the tool its probe chose (`server_hasher`). After scp, one
`openssl dgst -sha256` over all the copies on the server (`hash_s`) shows what the
verification alone costs at the CPU's best speed. `--upload asyncssh` sends the bytes with
the built-in client instead of OpenSSH's sftp (`sftp.archive.upload`). Prints one JSON
line per round and one with the best of each side.
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
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediasync.model import MediaFile, MediaType  # noqa: E402
from mediasync.nas.sftp import SftpArchive  # noqa: E402
from mediasync.pipeline import archive as step4  # noqa: E402
from mediasync.pipeline.steps import open_context  # noqa: E402
from mediasync.settings import Settings, load_settings  # noqa: E402
from tests.sftp.sshd import Sshd, start_sshd  # noqa: E402

MB = 1000 * 1000
BATCH_HASH = "openssl dgst -sha256 -r"  # one process for every file: no start-up per file


def make_files(folder: Path, count: int, size: int) -> list[MediaFile]:
    folder.mkdir(parents=True)
    rows = []
    for i in range(count):
        path = folder / f"IMG_{i:04d}.jpg"
        body = os.urandom(size)
        path.write_bytes(body)
        rows.append(MediaFile(source="bench", source_id=path.name, filename=path.name,
                              size=size, content_hash=hashlib.sha256(body).hexdigest(),
                              captured_at=datetime(2024, 1 + i % 12, 1 + i % 28, tzinfo=UTC),
                              media_type=MediaType.IMAGE, local_path=str(path)))
    return rows


def _ssh_options(sshd: Sshd) -> list[str]:
    return ["-i", str(sshd.user_key), "-o", f"UserKnownHostsFile={sshd.known_hosts}",
            "-o", "BatchMode=yes"]


def scp_seconds(sshd: Sshd, files: Path, remote: Path) -> tuple[float, float]:
    """`scp -r`, then how long hashing the copies on the server takes (what step 4 does
    and scp does not)."""
    remote.mkdir()
    started = time.perf_counter()
    subprocess.run(["scp", "-q", "-r", "-P", str(sshd.port), *_ssh_options(sshd),
                    str(files), f"127.0.0.1:{remote}/"], check=True)
    copied = time.perf_counter()
    subprocess.run(["ssh", "-p", str(sshd.port), *_ssh_options(sshd), "127.0.0.1",
                    f"find {remote} -type f -exec {BATCH_HASH} {{}} + >/dev/null"], check=True)
    return copied - started, time.perf_counter() - copied


def write_config(sshd: Sshd, work: Path, remote: Path, parallel: int, upload: str) -> Settings:
    config = work / "mediasync.toml"
    config.write_text(f"""\
[source]
kind = "folder"
path = "{work / 'files'}"
[ledger]
url = "sqlite:///{work / 'bench.db'}"
[sftp.archive]
host = "127.0.0.1"
port = {sshd.port}
key_file = "{sshd.user_key}"
known_hosts = "{sshd.known_hosts}"
root = "{remote}"
parallel_transfers = {parallel}
upload = "{upload}"
""")
    return load_settings(config)


def probe(settings: Settings, remote: Path) -> SftpArchive:
    """Step 4's archive after its check: which server hasher, which upload client."""
    remote.mkdir()
    archive = SftpArchive(settings.sftp.archive, settings)  # type: ignore[arg-type]
    archive.check()
    archive.close()
    remote.rmdir()
    return archive


def step4_seconds(sshd: Sshd, work: Path, rows: list[MediaFile], remote: Path,
                  parallel: int, upload: str) -> float:
    remote.mkdir()
    (work / "bench.db").unlink(missing_ok=True)
    ctx = open_context(write_config(sshd, work, remote, parallel, upload), "bench")
    ctx.ledger.add_files([MediaFile(**{**row.__dict__}) for row in rows], "bench")
    started = time.perf_counter()
    report = step4.run(ctx)
    seconds = time.perf_counter() - started
    ctx.ledger.close()
    assert report.done == len(rows) and report.failed == 0, report.message
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size-mb", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=16, help="sftp.archive.parallel_transfers")
    parser.add_argument("--upload", choices=["auto", "openssh", "asyncssh"], default="auto",
                        help="sftp.archive.upload")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-sftp"))
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    sshd = start_sshd(args.dir / "sshd")
    try:
        rows = make_files(args.dir / "files", args.files, int(args.size_mb * MB))
        checked = probe(write_config(sshd, args.dir, args.dir / "probe", args.parallel,
                                     args.upload), args.dir / "probe")
        best = {"scp": float("inf"), "hash": float("inf"), "step4": float("inf")}
        for n in range(args.rounds):
            scp, hashing = scp_seconds(sshd, args.dir / "files", args.dir / f"scp{n}")
            ours = step4_seconds(sshd, args.dir, rows, args.dir / f"nas{n}", args.parallel,
                                 args.upload)
            best = {"scp": min(best["scp"], scp), "hash": min(best["hash"], hashing),
                    "step4": min(best["step4"], ours)}
            print(json.dumps({"round": n, "scp_s": round(scp, 2), "hash_s": round(hashing, 2),
                              "step4_s": round(ours, 2), "ratio": round(ours / scp, 2)}))
            shutil.rmtree(args.dir / f"scp{n}")
            shutil.rmtree(args.dir / f"nas{n}")
        total = args.files * args.size_mb
        print(json.dumps({"files": args.files, "mb": total, "best_scp_s": round(best["scp"], 2),
                          "best_hash_s": round(best["hash"], 2),
                          "best_step4_s": round(best["step4"], 2),
                          "step4_mb_s": round(total / best["step4"], 1),
                          "ratio": round(best["step4"] / best["scp"], 2),
                          "ratio_to_scp_then_hash": round(
                              best["step4"] / (best["scp"] + best["hash"]), 2),
                          "server_hasher": checked.hasher or "none: read back over SFTP",
                          "uploads": checked.uploads,
                          "parallel_transfers": args.parallel,
                          "cpus": os.cpu_count(), "load": os.getloadavg()[0]}))
    finally:
        sshd.stop()
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
