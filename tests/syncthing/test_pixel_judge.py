"""The proof rule on its own (what Syncthing's /rest/db/file answer must say before a file
counts as on the device; records shaped as Syncthing 1.19 sends them) and the timeout
message."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mediasync.errors import DeviceNotConnected, SyncthingTimeout
from mediasync.pixel.phone import HELD, Verification, judge
from mediasync.pixel.syncthing import DeviceState, FileInfo, FileVersion

PHONE = "UOXNGT2-B3CMQYS-W4NYWYM-3YGHXGJ-NFMZTXW-3R34VKC-BWHUY34-2UPPKAN"
OTHER = "QP74IAL-6J6TVL3-6EBDJWP-6IIWBG3-RD2GPDG-OLIFMBT-AHHCJDD-BF5GIQN"


@pytest.fixture
def on_disk(tmp_path: Path) -> os.stat_result:
    path = tmp_path / "x.jpg"
    path.write_bytes(b"x" * 1000)
    return path.stat()


def record(on_disk: os.stat_result, version: tuple[str, ...] = ("QP74IAL:1",),
           **changes: Any) -> FileVersion:
    base = FileVersion(version, on_disk.st_size, on_disk.st_mtime_ns, False, False)
    return replace(base, **changes)


def info(local: FileVersion | None, global_: FileVersion | None = None,
         availability: tuple[tuple[str, bool], ...] = ((PHONE, False),)) -> FileInfo:
    return FileInfo("x.jpg", global_ or local, local, availability)


def test_held_when_device_has_the_local_version(on_disk: os.stat_result) -> None:
    verdict = judge(info(record(on_disk)), PHONE, on_disk)
    assert verdict.reason == HELD and verdict.version == "QP74IAL:1"


def test_two_counter_version_is_kept_whole(on_disk: os.stat_result) -> None:
    local = record(on_disk, ("QP74IAL:3", "UOXNGT2:1"))
    assert judge(info(local), PHONE, on_disk).version == "QP74IAL:3,UOXNGT2:1"


@pytest.mark.parametrize(("availability", "reason"), [
    ((), "not on the device yet"),  # Syncthing sends null: nobody else has it
    (((OTHER, False),), "not on the device yet"),
    (((PHONE, True),), "still arriving on the device"),  # from a temporary index
])
def test_not_held_without_a_complete_copy_on_the_device(
        on_disk: os.stat_result, availability: tuple[tuple[str, bool], ...],
        reason: str) -> None:
    verdict = judge(info(record(on_disk), availability=availability), PHONE, on_disk)
    assert verdict.version is None and verdict.reason == reason


def test_not_held_when_the_cluster_has_another_version(on_disk: os.stat_result) -> None:
    newer = record(on_disk, ("QP74IAL:2",))
    assert judge(info(record(on_disk), newer), PHONE, on_disk).version is None


def test_not_held_when_deleted_in_the_cluster(on_disk: os.stat_result) -> None:
    deleted = record(on_disk, deleted=True)
    assert judge(info(record(on_disk), deleted), PHONE, on_disk).version is None


@pytest.mark.parametrize("changes", [
    {"size": 999}, {"modified_ns": 1}, {"deleted": True},
], ids=["size", "mtime", "deleted"])
def test_disk_ahead_of_the_index_asks_for_a_rescan(
        on_disk: os.stat_result, changes: dict[str, Any]) -> None:
    verdict = judge(info(record(on_disk, **changes)), PHONE, on_disk)
    assert verdict.version is None and verdict.rescan


def test_unindexed_file_asks_for_a_rescan(on_disk: os.stat_result) -> None:
    verdict = judge(None, PHONE, on_disk)
    assert verdict.version is None and verdict.rescan


def test_ignored_file_is_not_rescanned_forever(on_disk: os.stat_result) -> None:
    verdict = judge(info(record(on_disk, invalid=True)), PHONE, on_disk)
    assert verdict.version is None and not verdict.rescan
    assert ".stignore" in verdict.reason


def test_timeout_names_the_first_files_and_counts_the_rest() -> None:
    waiting = {f"IMG_{n:02d}.JPG": "not on the device yet" for n in range(12)}
    error = Verification(waiting=waiting).timeout_error(
        300, DeviceState(PHONE, known=True, connected=True, paused=False, last_seen=None))
    text = str(error)
    assert type(error) is SyncthingTimeout and error.missing == sorted(waiting)
    assert text.startswith("timed out after 300s waiting for 12 files to reach device UOXNGT2")
    assert "IMG_09.JPG (not on the device yet)" in text and "IMG_10.JPG" not in text
    assert text.endswith("and 2 more; device UOXNGT2 connected")


def test_timeout_while_away_says_since_when() -> None:
    error = Verification(waiting={"a.jpg": "not on the device yet"}).timeout_error(
        2, DeviceState(PHONE, True, False, False, "2026-11-21T17:27:22Z"))
    assert isinstance(error, DeviceNotConnected)
    assert str(error).endswith("device UOXNGT2 not connected since 2026-11-21T17:27:22Z")
