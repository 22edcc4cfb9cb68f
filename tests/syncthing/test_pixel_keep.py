"""Freeing the phone (for step 8): a Pixel copy goes only `pixel_keep_hours` after the
phone was proven to hold it, never when that is 0, and never outside the Pixel folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mediasync.errors import FileProblem
from mediasync.ledger.sqlite import SqliteLedger
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.pixel.phone import pixel_copies_due, remove_pixel_copy, verified_at


@pytest.fixture
def ledger() -> Iterator[SqliteLedger]:
    db = SqliteLedger(None)
    yield db
    db.close()


def verified_file(ledger: SqliteLedger, pixel_dir: Path, name: str) -> MediaFile:
    pixel_dir.mkdir(exist_ok=True)
    (pixel_dir / name).write_bytes(b"photo")
    (media,) = ledger.add_files([MediaFile("test", name, name)], "run-1")
    assert media.id is not None
    path = str(pixel_dir / name)
    ledger.apply([StageChange(media.id, Stage.PIXEL_SYNC_READY, {"pixel_path": path})], "run-1")
    ledger.apply([StageChange(media.id, Stage.PIXEL_VERIFIED,
                              {"pixel_synced": True, "pixel_version": "ABC:1"})], "run-1")
    found = ledger.get(media.id)
    assert found is not None
    return found


def test_copy_is_due_only_after_the_keep_hours(ledger: SqliteLedger, tmp_path: Path) -> None:
    media = verified_file(ledger, tmp_path / "pixel", "a.jpg")
    at = verified_at(ledger, media)
    assert at is not None
    assert pixel_copies_due(ledger, [media], 48, at + timedelta(hours=47.9)) == []
    assert [m.id for m in pixel_copies_due(ledger, [media], 48, at + timedelta(hours=48))] \
        == [media.id]


def test_keep_hours_zero_keeps_for_ever(ledger: SqliteLedger, tmp_path: Path) -> None:
    media = verified_file(ledger, tmp_path / "pixel", "a.jpg")
    at = verified_at(ledger, media)
    assert at is not None
    assert pixel_copies_due(ledger, [media], 0, at + timedelta(days=3650)) == []


def test_unverified_or_already_removed_copies_are_never_due(ledger: SqliteLedger,
                                                           tmp_path: Path) -> None:
    media = verified_file(ledger, tmp_path / "pixel", "a.jpg")
    at = verified_at(ledger, media)
    assert at is not None
    later = at + timedelta(days=30)
    unproven = MediaFile("test", "b.jpg", "b.jpg", id=999, pixel_path=media.pixel_path)
    removed = MediaFile("test", "c.jpg", "c.jpg", id=media.id, pixel_synced=True)
    assert pixel_copies_due(ledger, [unproven, removed], 48, later) == []


def test_remove_deletes_only_inside_the_pixel_folder(ledger: SqliteLedger,
                                                     tmp_path: Path) -> None:
    media = verified_file(ledger, tmp_path / "pixel", "a.jpg")
    remove_pixel_copy(media, tmp_path / "pixel")
    assert not (tmp_path / "pixel" / "a.jpg").exists()
    remove_pixel_copy(media, tmp_path / "pixel")  # already gone: fine

    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"not ours")
    stray = MediaFile("test", "x", "x", pixel_path=str(tmp_path / "pixel" / ".." /
                                                        "elsewhere.jpg"))
    with pytest.raises(FileProblem, match="outside the Pixel folder"):
        remove_pixel_copy(stray, tmp_path / "pixel")
    assert outside.read_bytes() == b"not ours"
