"""What step 1 needs from every backend to notice a file changed in place at the source:
the recorded signatures of a source in one query, and a note on a file at any stage
(a completed one too) that changes columns and leaves an event but never the stage."""

from __future__ import annotations

import pytest

from mediasync.errors import IllegalTransition, LedgerError
from mediasync.ledger.base import Ledger
from mediasync.model import FileNote, MediaFile, Stage, StageChange
from tests.ledger.conftest import LedgerFactory

SOURCE = "folder:/pictures"


def row(name: str, **columns: object) -> MediaFile:
    return MediaFile(source=SOURCE, source_id=name, filename=name,
                     **columns)  # type: ignore[arg-type]


def test_source_signatures_are_size_and_change_tag_of_downloaded_files(ledger: Ledger) -> None:
    ledger.add_files([
        row("a.jpg", size=10, content_hash="a" * 64,
            source_meta={"mtime_ns": 17_334_000_123_456_789}),
        row("b.jpg", size=20, content_hash="b" * 64, source_meta={"etag": '"9f"'}),
        row("old.jpg", size=30, content_hash="c" * 64),  # recorded before tags were kept
        row("empty.jpg", size=0, workflow_stage=Stage.FAILED),  # no bytes: no version
        MediaFile(source="sftp://elsewhere", source_id="a.jpg", filename="a.jpg", size=1,
                  content_hash="d" * 64, source_meta={"mtime_ns": 1}),
    ], run_id="r1")
    assert ledger.source_signatures(SOURCE, "mtime_ns") == {
        "a.jpg": (10, "17334000123456789"), "b.jpg": (20, None), "old.jpg": (30, None)}
    assert ledger.source_signatures(SOURCE, "etag")["b.jpg"] == (20, '"9f"')
    assert ledger.source_signatures("bucket:none", "etag") == {}


def test_a_note_changes_a_completed_file_and_leaves_an_event(ledger: Ledger) -> None:
    [done, moving] = ledger.add_files([row("a.jpg", size=1, content_hash="a" * 64),
                                       row("b.jpg", size=1, content_hash="b" * 64)], "r1")
    assert done.id is not None and moving.id is not None
    ledger.apply([StageChange(done.id, Stage.COMPLETED)], "r1")
    with pytest.raises(IllegalTransition):  # the state machine keeps a completed file still
        ledger.apply([StageChange(done.id, Stage.COMPLETED, {"source_id": "x"})], "r2")
    ledger.note([FileNote(done.id, {"source_id": "a.jpg@aaaa", "source_meta": {"k": 1}},
                          "superseded, run r2"),
                 FileNote(moving.id, {"source_id": "b.jpg@bbbb"}, "superseded, run r2")], "r2")
    after, other = ledger.get(done.id), ledger.get(moving.id)
    assert after is not None and other is not None
    assert (after.workflow_stage, after.source_id, after.source_meta) == (
        Stage.COMPLETED, "a.jpg@aaaa", {"k": 1})
    assert (other.workflow_stage, other.source_id) == (Stage.DOWNLOADED, "b.jpg@bbbb")
    last = ledger.events(done.id)[-1]
    assert (last.from_stage, last.to_stage, last.run_id, last.detail) == (
        Stage.COMPLETED, Stage.COMPLETED, "r2", "superseded, run r2")
    assert ledger.events(moving.id)[-1].to_stage == Stage.DOWNLOADED
    # the old id is free: the new version comes in through the normal path
    assert [m.source_id for m in ledger.add_files([row("a.jpg", size=2)], "r2")] == ["a.jpg"]


def test_a_note_never_moves_a_stage_and_a_reader_cannot_write_one(
        make_ledger: LedgerFactory) -> None:
    ledger = make_ledger()
    [f] = ledger.add_files([row("a.jpg")], "r1")
    assert f.id is not None
    with pytest.raises(LedgerError):
        ledger.note([FileNote(f.id, {"workflow_stage": "completed"}, "no")], "r2")
    with pytest.raises(ValueError):
        ledger.note([FileNote(f.id, {"bogus": 1}, "no")], "r2")
    with pytest.raises(LedgerError):
        make_ledger(read_only=True).note([FileNote(f.id, {"attempts": 5}, "no")], "r2")
    assert len(ledger.events(f.id)) == 1
    assert ledger.get(f.id).attempts == 0  # type: ignore[union-attr]
