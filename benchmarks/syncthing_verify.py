"""Step 3 (Pixel verification) on 500 small files against two real Syncthing instances.

Measures, in the same run:
- step 3's wall time, from its start until every file is proven on the phone;
- the time Syncthing itself needed: from the same start until the phone's last
  ItemFinished event for the folder (the phone instance's own clock of its work);
- REST requests step 3 made, per file.
Targets: step 3 under 1.1 times Syncthing's own time, fewer than 3 requests per file.

Run: uv run python -m benchmarks.syncthing_verify [--files 500] [--kib 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from mediasync.model import MediaFile
from mediasync.pixel.phone import place_batch, verify
from mediasync.pixel.syncthing import SyncthingClient, parse_time_ns
from tests.syncthing.syncthing_pair import Instance, Pair, share_folder, start_pair


@dataclass
class Result:
    files: int
    kib: int
    step3_s: float
    syncthing_s: float
    requests: int

    @property
    def ratio(self) -> float:
        return self.step3_s / self.syncthing_s

    def row(self) -> str:
        return (f"| {self.files} | {self.kib} | {self.step3_s:.2f} | {self.syncthing_s:.2f} | "
                f"{self.ratio:.3f} | {self.requests} | {self.requests / self.files:.2f} |")


def make_files(folder: Path, count: int, round_no: int, kib: int) -> list[MediaFile]:
    """`count` files of about `kib` KiB each (0.5 to 1.5 times that), all different."""
    folder.mkdir(parents=True)
    files = []
    for n in range(count):
        blocks = kib * 32 * (50 + n % 101) // 100
        data = hashlib.sha256(f"{round_no}-{n}".encode()).digest() * max(1, blocks)
        path = folder / f"IMG_{round_no}_{n:05d}.JPG"
        path.write_bytes(data)
        files.append(MediaFile("bench", path.name, path.name, id=n, size=len(data),
                               content_hash=hashlib.sha256(data).hexdigest(),
                               local_path=str(path)))
    return files


def phone_finished_ns(phone: Instance, folder_id: str, since: int, count: int) -> int:
    """When the phone wrote its last file, from its own ItemFinished events."""
    finished: dict[str, int] = {}
    while len(finished) < count:
        events = phone.get("/rest/events", events="ItemFinished", since=since, timeout=5)
        for event in events:
            data = event["data"]
            if data.get("folder") == folder_id and not data.get("error"):
                finished[data["item"]] = parse_time_ns(event["time"])
            since = event["id"]
    return max(finished.values())


def one_round(pair: Pair, base: Path, count: int, kib: int, round_no: int) -> Result:
    shared = share_folder(pair, base / f"round{round_no}")
    files = make_files(base / f"incoming{round_no}", count, round_no, kib)
    phone_since = pair.phone.get("/rest/events", events="ItemFinished", since=0, limit=1,
                                 timeout=0)
    since = phone_since[-1]["id"] if phone_since else 0
    key = SecretStr(pair.computer.api_key)
    with SyncthingClient(pair.computer.url, key) as step2:
        place_batch(step2, shared.target, files)
    with SyncthingClient(pair.computer.url, key) as step3:
        started_ns = time.time_ns()
        started = time.monotonic()
        result = verify(step3, shared.target, [f.filename for f in files], timeout=600,
                        poll=30)
        elapsed = time.monotonic() - started
    assert len(result.held) == count, f"only {len(result.held)} of {count} verified"
    done_ns = phone_finished_ns(pair.phone, shared.folder_id, since, count)
    pair.unshare(shared.folder_id)
    return Result(count, kib, elapsed, (done_ns - started_ns) / 1e9, step3.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--kib", type=int, default=8, help="average file size")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mediasync-bench-") as tmp:
        pair = start_pair(Path(tmp))
        try:
            print("| files | KiB | step 3 s | Syncthing s | ratio | requests | per file |")
            print("|---|---|---|---|---|---|---|")
            for round_no in range(args.rounds):
                result = one_round(pair, Path(tmp), args.files, args.kib, round_no)
                print(result.row(), flush=True)
        finally:
            pair.stop()


if __name__ == "__main__":
    main()
