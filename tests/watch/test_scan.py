import hashlib
import os
from pathlib import Path

import pytest

from mediasync.errors import ScanError
from mediasync.ledger.sqlite import SqliteLedger
from mediasync.records.scan import ScanOptions, reconcile
from tests.watch.conftest import CountingHasher, write


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seed(root: Path) -> None:
    write(root / "a.jpg", b"alpha")
    write(root / "2024/05/b.jpg", b"bravo")
    write(root / "2024/05/c.mov", b"charlie")
    write(root / "2024/.thumbs/x.jpg", b"hidden folder")
    write(root / ".DS_Store", b"finder")
    write(root / "2024/Thumbs.db", b"windows")
    write(root / "2024/05/edit.jpg~", b"editor")
    write(root / "2024/05/.d.jpg.mediasync-partial", b"half")


def bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_first_pass_records_every_media_file_with_its_hash(ledger: SqliteLedger,
                                                           root: Path) -> None:
    seed(root)
    stats = reconcile(ledger, root)
    records = ledger.file_records(str(root))
    assert sorted(records) == ["2024/05/b.jpg", "2024/05/c.mov", "a.jpg"]
    assert records["2024/05/b.jpg"].content_hash == sha(b"bravo")
    assert records["a.jpg"].size == 5
    assert records["a.jpg"].mtime_ns == (root / "a.jpg").stat().st_mtime_ns
    assert (stats.scanned, stats.added, stats.updated, stats.removed) == (3, 3, 0, 0)


def test_unchanged_files_are_not_hashed_again(ledger: SqliteLedger, root: Path,
                                              hasher: CountingHasher) -> None:
    seed(root)
    reconcile(ledger, root)
    stats = reconcile(ledger, root, options=ScanOptions(hasher=hasher))
    assert hasher.paths == []
    assert (stats.scanned, stats.added, stats.updated, stats.removed) == (3, 0, 0, 0)
    assert len(ledger.file_records(str(root))) == 3


def test_reconcile_fixes_edits_removals_and_additions_behind_its_back(
        ledger: SqliteLedger, root: Path, hasher: CountingHasher) -> None:
    seed(root)
    reconcile(ledger, root)
    write(root / "a.jpg", b"ALPHA")  # same size, new bytes
    bump_mtime(root / "a.jpg")
    write(root / "2024/05/b.jpg", b"bravo, longer now")
    (root / "2024/05/c.mov").unlink()
    write(root / "new/d.jpg", b"delta")

    stats = reconcile(ledger, root, options=ScanOptions(hasher=hasher, batch_size=1))

    records = ledger.file_records(str(root))
    assert sorted(records) == ["2024/05/b.jpg", "a.jpg", "new/d.jpg"]
    assert records["a.jpg"].content_hash == sha(b"ALPHA")
    assert records["2024/05/b.jpg"].content_hash == sha(b"bravo, longer now")
    assert records["new/d.jpg"].content_hash == sha(b"delta")
    assert sorted(p.name for p in hasher.paths) == ["a.jpg", "b.jpg", "d.jpg"]
    op = ledger.recent_operations(1)[0]
    assert (op.operation_type, op.status, op.error) == ("reconciliation", "completed", None)
    assert (op.files_scanned, op.files_added, op.files_updated, op.files_removed,
            op.files_failed) == (3, 1, 2, 1, 0)
    assert op.detail is not None and op.detail["root"] == str(root)
    assert op.detail["duration_ms"] >= 0 and op.finished_at is not None
    assert (stats.added, stats.updated, stats.removed) == (1, 2, 1)


def test_every_pass_stamps_its_generation_on_every_record(ledger: SqliteLedger,
                                                          root: Path) -> None:
    seed(root)
    first = reconcile(ledger, root)
    second = reconcile(ledger, root)
    assert second.operation_id != first.operation_id
    generations = {r.scan_generation for r in ledger.file_records(str(root)).values()}
    assert generations == {second.operation_id}


def test_an_emptied_tree_drops_every_record(ledger: SqliteLedger, root: Path) -> None:
    seed(root)
    reconcile(ledger, root)
    for path in [root / "a.jpg", root / "2024/05/b.jpg", root / "2024/05/c.mov"]:
        path.unlink()
    stats = reconcile(ledger, root)
    assert stats.removed == 3
    assert ledger.file_records(str(root)) == {}


def test_roots_are_kept_apart(ledger: SqliteLedger, tmp_path: Path) -> None:
    write(tmp_path / "one/a.jpg", b"1")
    write(tmp_path / "two/a.jpg", b"2")
    reconcile(ledger, tmp_path / "one")
    reconcile(ledger, tmp_path / "two")
    (tmp_path / "two/a.jpg").unlink()
    reconcile(ledger, tmp_path / "two")
    assert list(ledger.file_records(str(tmp_path / "one"))) == ["a.jpg"]
    assert ledger.file_records(str(tmp_path / "two")) == {}


def test_a_file_that_cannot_be_read_is_counted_failed_and_keeps_its_record(
        ledger: SqliteLedger, root: Path) -> None:
    seed(root)
    reconcile(ledger, root)
    write(root / "a.jpg", b"changed!")
    bad = root / "a.jpg"

    def refuses_a_jpg(path: Path) -> str:  # what a permission error looks like to a scan
        if path == bad:
            raise PermissionError(13, "Permission denied", str(path))
        return hashlib.sha256(path.read_bytes()).hexdigest()

    stats = reconcile(ledger, root, options=ScanOptions(hasher=refuses_a_jpg))
    assert stats.failed == 1
    assert stats.problems == ["a.jpg: Permission denied"]
    assert ledger.file_records(str(root))["a.jpg"].content_hash == sha(b"alpha")
    assert ledger.recent_operations(1)[0].files_failed == 1


def test_a_missing_root_is_a_clear_error_and_records_nothing(ledger: SqliteLedger,
                                                             tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="not a folder: .*nowhere"):
        reconcile(ledger, tmp_path / "nowhere")
    assert ledger.recent_operations() == []


def test_a_file_given_as_root_is_refused(ledger: SqliteLedger, root: Path) -> None:
    with pytest.raises(ScanError, match="not a folder"):
        reconcile(ledger, write(root / "a.jpg", b"x"))


def test_symlinks_are_not_followed(ledger: SqliteLedger, root: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside/secret.jpg", b"s")
    (root / "link.jpg").symlink_to(outside)
    (root / "linkdir").symlink_to(outside.parent)
    write(root / "real.jpg", b"r")
    reconcile(ledger, root)
    assert list(ledger.file_records(str(root))) == ["real.jpg"]


def test_many_files_in_small_batches_with_one_worker(ledger: SqliteLedger, root: Path) -> None:
    for i in range(250):
        write(root / f"d{i % 7}/f{i}.jpg", f"file {i}")
    small = ScanOptions(workers=1, batch_size=16, stamp_batch_size=7)
    stats = reconcile(ledger, root, options=small)
    assert stats.added == 250
    records = ledger.file_records(str(root))
    assert records["d3/f10.jpg"].content_hash == sha(b"file 10")
    assert len(records) == 250
    (root / "d1/f1.jpg").unlink()
    again = reconcile(ledger, root, options=small)
    assert (again.scanned, again.added, again.removed) == (249, 0, 1)
    assert {r.scan_generation for r in ledger.file_records(str(root)).values()} == {
        again.operation_id}


def test_a_pass_that_breaks_is_recorded_failed_and_drops_nothing(ledger: SqliteLedger,
                                                                 root: Path) -> None:
    seed(root)
    reconcile(ledger, root)
    (root / "a.jpg").unlink()
    write(root / "new.jpg", b"new")

    def broken(path: Path) -> str:
        raise RuntimeError("hasher crashed")

    with pytest.raises(RuntimeError, match="hasher crashed"):
        reconcile(ledger, root, options=ScanOptions(hasher=broken))
    op = ledger.recent_operations(1)[0]
    assert (op.status, op.error) == ("failed", "hasher crashed")
    assert "a.jpg" in ledger.file_records(str(root))  # the sweep never ran
