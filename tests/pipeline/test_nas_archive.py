"""The mounted NAS archive stores two files at a time: names are still decided one by one."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from mediasync.errors import ArchiveError
from mediasync.model import MediaFile, MediaType
from mediasync.nas.archive import NasArchive


def test_same_name_different_bytes_stored_at_once_both_survive(tmp_path: Path) -> None:
    archive = NasArchive(tmp_path / "nas")
    archive.root.mkdir()
    assert archive.parallel_transfers > 1
    rows: list[tuple[Path, MediaFile]] = []
    for n in range(16):
        body = os.urandom(2_000_000)  # long enough for the writes to overlap
        working = tmp_path / f"working{n}.jpg"
        working.write_bytes(body)
        rows.append((working, MediaFile(
            id=n, source="folder:/x", source_id=f"{n}/IMG_0001.JPG", filename="IMG_0001.JPG",
            size=len(body), content_hash=hashlib.sha256(body).hexdigest(),
            captured_at=datetime(2024, 5, 1, tzinfo=UTC), media_type=MediaType.IMAGE)))

    with ThreadPoolExecutor(archive.parallel_transfers) as pool:
        stored = list(pool.map(lambda row: archive.store(row[0], row[1], "IMG_0001.JPG"),
                               rows))

    assert len({s.path for s in stored}) == len(rows)
    for (working, _), archived in zip(rows, stored, strict=True):
        assert archived.path.read_bytes() == working.read_bytes()
    assert len(list((archive.root / "2024" / "05" / "01").iterdir())) == len(rows)


def test_workers_checking_one_archive_at_once_do_not_trip_over_each_others_probe(
        tmp_path: Path) -> None:
    """Each check writes and removes a probe file: with one shared name, one worker's
    removal made the other's fail ("not writable: No such file or directory")."""
    root = tmp_path / "nas"
    root.mkdir()
    failures: list[Exception] = []

    def check_often() -> None:
        archive = NasArchive(root)
        try:
            for _ in range(300):
                archive.check()
        except ArchiveError as exc:
            failures.append(exc)

    workers = [threading.Thread(target=check_often) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert list(root.iterdir()) == []
