from mediasync.ledger.base import FileRecord
from mediasync.ledger.sqlite import SqliteLedger


def test_signatures_are_size_and_mtime_per_path_of_one_root(ledger: SqliteLedger) -> None:
    ledger.upsert_file_records([FileRecord("/r", "a", 1, 2, "h", 1),
                                FileRecord("/r", "b/c", 3, 4, None, 1),
                                FileRecord("/s", "a", 5, 6, "h", 1)])
    assert ledger.file_signatures("/r") == {"a": (1, 2), "b/c": (3, 4)}
    assert ledger.file_signatures("/nowhere") == {}


def test_touch_stamps_the_generation_so_stale_records_can_go(ledger: SqliteLedger) -> None:
    ledger.upsert_file_records([FileRecord("/r", p, 1, 1, None, 1) for p in ("a", "b", "c")]
                               + [FileRecord("/s", "a", 1, 1, None, 1)])
    ledger.touch_file_records("/r", ["a", "c"], 2)
    ledger.touch_file_records("/r", [], 2)
    assert ledger.delete_stale_file_records("/r", 2) == 1
    assert sorted(ledger.file_records("/r")) == ["a", "c"]
    assert ledger.file_records("/r")["a"].scan_generation == 2
    assert list(ledger.file_records("/s")) == ["a"]
