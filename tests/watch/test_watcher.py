"""The watcher against real filesystem events (inotify through watchdog)."""

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasync.errors import ScanError
from mediasync.ledger.sqlite import SqliteLedger
from mediasync.records.scan import ScanOptions, reconcile
from mediasync.records.watcher import Watcher, WatchOptions
from tests.watch.conftest import WATCHDOG_DOUBLE_WATCH, CountingHasher, wait_for, write

pytestmark = WATCHDOG_DOUBLE_WATCH


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def watch(ledger: SqliteLedger, root: Path, hasher: CountingHasher) -> Iterator[Watcher]:
    watcher = Watcher(ledger, [root], WatchOptions(debounce_seconds=0.2,
                                                   scan=ScanOptions(hasher=hasher)))
    watcher.start()
    wait_for(watcher.idle)
    yield watcher
    watcher.stop()


def hashes(ledger: SqliteLedger, root: Path) -> dict[str, str | None]:
    return {rel: r.content_hash for rel, r in ledger.file_records(str(root)).items()}


def settled(watcher: Watcher, ledger: SqliteLedger, root: Path,
            expected: dict[str, str | None]) -> None:
    wait_for(lambda: watcher.idle() and hashes(ledger, root) == expected)


def test_creation_modification_and_deletion_are_reflected(watch: Watcher, ledger: SqliteLedger,
                                                          root: Path) -> None:
    write(root / "a.jpg", b"one")
    settled(watch, ledger, root, {"a.jpg": sha(b"one")})
    write(root / "a.jpg", b"two, longer")
    settled(watch, ledger, root, {"a.jpg": sha(b"two, longer")})
    record = ledger.file_records(str(root))["a.jpg"]
    assert (record.size, record.mtime_ns) == (11, (root / "a.jpg").stat().st_mtime_ns)
    (root / "a.jpg").unlink()
    settled(watch, ledger, root, {})


def test_moves_within_into_and_out_of_the_root(watch: Watcher, ledger: SqliteLedger,
                                               root: Path, tmp_path: Path) -> None:
    write(root / "a.jpg", b"a")
    settled(watch, ledger, root, {"a.jpg": sha(b"a")})
    (root / "a.jpg").rename(root / "b.jpg")
    settled(watch, ledger, root, {"b.jpg": sha(b"a")})
    outside = write(tmp_path / "elsewhere/c.jpg", b"c")
    outside.rename(root / "c.jpg")
    settled(watch, ledger, root, {"b.jpg": sha(b"a"), "c.jpg": sha(b"c")})
    (root / "b.jpg").rename(tmp_path / "elsewhere/b.jpg")
    settled(watch, ledger, root, {"c.jpg": sha(b"c")})


def test_new_subfolders_are_followed_and_folder_moves_carry_their_files(
        watch: Watcher, ledger: SqliteLedger, root: Path, tmp_path: Path) -> None:
    (root / "2024").mkdir()
    write(root / "2024/05/a.jpg", b"a")
    settled(watch, ledger, root, {"2024/05/a.jpg": sha(b"a")})
    write(root / "2024/05/deeper/b.jpg", b"b")
    settled(watch, ledger, root, {"2024/05/a.jpg": sha(b"a"), "2024/05/deeper/b.jpg": sha(b"b")})
    (root / "2024").rename(root / "2025")
    settled(watch, ledger, root, {"2025/05/a.jpg": sha(b"a"), "2025/05/deeper/b.jpg": sha(b"b")})
    write(tmp_path / "album/x/c.jpg", b"c")
    (tmp_path / "album").rename(root / "album")
    settled(watch, ledger, root, {"2025/05/a.jpg": sha(b"a"), "2025/05/deeper/b.jpg": sha(b"b"),
                                  "album/x/c.jpg": sha(b"c")})
    (root / "2025").rename(tmp_path / "gone")
    settled(watch, ledger, root, {"album/x/c.jpg": sha(b"c")})


def test_hidden_temporary_and_system_files_are_ignored(watch: Watcher, ledger: SqliteLedger,
                                                       root: Path) -> None:
    for name in (".DS_Store", "Thumbs.db", "a.jpg~", "a.tmp", ".a.jpg.swp", "a.bak",
                 ".a.jpg.mediasync-partial", ".hidden/b.jpg"):
        write(root / name, b"ignored")
    write(root / "a.jpg", b"kept")  # written last: once it is in, the rest was seen too
    settled(watch, ledger, root, {"a.jpg": sha(b"kept")})


def test_an_atomic_rename_from_a_hidden_partial_is_recorded(watch: Watcher,
                                                            ledger: SqliteLedger,
                                                            root: Path) -> None:
    partial = write(root / ".IMG_1.jpg.mediasync-partial", b"whole file")
    partial.rename(root / "IMG_1.jpg")
    settled(watch, ledger, root, {"IMG_1.jpg": sha(b"whole file")})


def test_a_burst_of_writes_to_one_file_is_hashed_once_after_the_debounce(
        ledger: SqliteLedger, root: Path, hasher: CountingHasher) -> None:
    watcher = Watcher(ledger, [root], WatchOptions(debounce_seconds=0.5,
                                                   scan=ScanOptions(hasher=hasher)))
    watcher.start()
    try:
        wait_for(watcher.idle)
        target = root / "burst.mov"
        with open(target, "wb") as handle:
            for i in range(40):
                handle.write(os.urandom(1024) + bytes([i]))
                handle.flush()
                os.fsync(handle.fileno())
        for i in range(10):  # and reopened a few times, as editors and copiers do
            with open(target, "ab") as handle:
                handle.write(bytes([i]))
        final = sha(target.read_bytes())
        settled(watcher, ledger, root, {"burst.mov": final})
        assert hasher.count(target) == 1
        assert watcher.hash_count == 1
    finally:
        watcher.stop()


def test_files_created_while_stopped_are_picked_up_by_the_startup_pass(
        ledger: SqliteLedger, root: Path) -> None:
    write(root / "kept.jpg", b"kept")
    write(root / "edited.jpg", b"before")
    write(root / "removed.jpg", b"removed")
    reconcile(ledger, root)
    write(root / "new/while_stopped.jpg", b"new")
    write(root / "edited.jpg", b"after, and longer")
    (root / "removed.jpg").unlink()

    watcher = Watcher(ledger, [root], WatchOptions(debounce_seconds=0.1))
    watcher.start()
    try:
        wait_for(watcher.ready.is_set)
        assert hashes(ledger, root) == {"kept.jpg": sha(b"kept"),
                                        "edited.jpg": sha(b"after, and longer"),
                                        "new/while_stopped.jpg": sha(b"new")}
        startup = ledger.recent_operations(1, operation_type="startup")[0]
        assert (startup.status, startup.files_scanned, startup.files_added,
                startup.files_updated, startup.files_removed) == ("completed", 3, 1, 1, 1)
    finally:
        watcher.stop()


def test_each_realtime_batch_is_a_sync_operation(watch: Watcher, ledger: SqliteLedger,
                                                 root: Path) -> None:
    write(root / "a.jpg", b"a")
    write(root / "b.jpg", b"b")
    settled(watch, ledger, root, {"a.jpg": sha(b"a"), "b.jpg": sha(b"b")})
    (root / "a.jpg").unlink()
    settled(watch, ledger, root, {"b.jpg": sha(b"b")})
    realtime = ledger.recent_operations(50, operation_type="realtime")
    assert realtime and all(op.status == "completed" for op in realtime)
    assert sum(op.files_added for op in realtime) == 2
    assert sum(op.files_removed for op in realtime) == 1
    assert all(op.detail and op.detail["root"] == str(root) for op in realtime)


def test_stop_handles_what_is_still_waiting_for_its_debounce(ledger: SqliteLedger,
                                                             root: Path) -> None:
    watcher = Watcher(ledger, [root], WatchOptions(debounce_seconds=3600))
    watcher.start()
    wait_for(watcher.idle)
    write(root / "late.jpg", b"late")
    wait_for(lambda: not watcher.idle())  # the event has arrived and waits
    watcher.stop()
    assert hashes(ledger, root) == {"late.jpg": sha(b"late")}


def test_several_roots_are_watched_apart(ledger: SqliteLedger, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    watcher = Watcher(ledger, [one, two], WatchOptions(debounce_seconds=0.1))
    watcher.start()
    try:
        wait_for(watcher.idle)
        write(one / "a.jpg", b"1")
        write(two / "a.jpg", b"2")
        wait_for(lambda: hashes(ledger, one) == {"a.jpg": sha(b"1")}
                 and hashes(ledger, two) == {"a.jpg": sha(b"2")})
    finally:
        watcher.stop()


def test_overlapping_or_missing_roots_are_refused(ledger: SqliteLedger, root: Path,
                                                  tmp_path: Path) -> None:
    (root / "inner").mkdir()
    with pytest.raises(ScanError, match="overlap"):
        Watcher(ledger, [root, root / "inner"])
    with pytest.raises(ScanError, match="not a folder"):
        Watcher(ledger, [tmp_path / "missing"])
    with pytest.raises(ScanError, match="nothing to watch"):
        Watcher(ledger, [])
