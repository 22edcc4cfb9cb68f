"""One suite, every backend: the Ledger protocol's semantics, unchanged across SQLite,
Postgres and Supabase REST."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mediasync.errors import IllegalTransition, LedgerError
from mediasync.ledger.base import (
    TABLES,
    DeleteAnswer,
    DeletionProof,
    DeletionState,
    FileRecord,
    Ledger,
)
from mediasync.model import MediaFile, MediaType, Stage, StageChange, SyncOperation
from tests.ledger.conftest import LedgerFactory

REPO = Path(__file__).resolve().parents[2]
SHOT = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=UTC)


def media(n: int, source: str = "icloud", **extra: object) -> MediaFile:
    return MediaFile(source=source, source_id=f"asset-{n}", filename=f"IMG_{n:04d}.HEIC",
                     **extra)  # type: ignore[arg-type]


def added(ledger: Ledger, count: int, **extra: object) -> list[MediaFile]:
    return ledger.add_files([media(n, **extra) for n in range(count)], run_id="run-1")


def ids(files: list[MediaFile]) -> list[int]:
    return [f.id for f in files if f.id is not None]


def test_add_files_returns_ids_and_writes_first_event(ledger: Ledger) -> None:
    files = added(ledger, 3)
    assert len(set(ids(files))) == 3
    events = ledger.events(files[0].id)  # type: ignore[arg-type]
    assert [(e.from_stage, e.to_stage, e.run_id) for e in events] == [
        (None, Stage.DOWNLOADED, "run-1")]
    assert ledger.known_source_ids("icloud") == {"asset-0", "asset-1", "asset-2"}
    assert ledger.known_source_ids("folder") == set()


def test_add_files_leaves_known_files_alone(ledger: Ledger) -> None:
    [first] = ledger.add_files([media(1, size=10)], run_id="run-1")
    again = ledger.add_files([media(1, size=99), media(2)], run_id="run-2")
    assert [m.source_id for m in again] == ["asset-2"]
    kept = ledger.find("icloud", "asset-1")
    assert kept is not None and kept.size == 10 and kept.id == first.id
    assert len(ledger.events(first.id)) == 1  # type: ignore[arg-type]


def test_add_files_refuses_a_batch_with_an_impossible_first_stage(ledger: Ledger) -> None:
    batch = [media(1), media(2, workflow_stage=Stage.COMPRESSED)]
    with pytest.raises(IllegalTransition):
        ledger.add_files(batch, run_id=None)
    assert ledger.known_source_ids("icloud") == set()


def test_every_column_round_trips(ledger: Ledger) -> None:
    original = media(7, size=2_500_000_000, content_hash="ab" * 32, captured_at=SHOT,
                     media_type=MediaType.VIDEO, favorite=True, group_id="live-7",
                     local_path="/in/IMG_0007.HEIC", pixel_synced=True,
                     compression_metadata={"crf": 28, "codec": "hevc", "ratio": 0.41},
                     media_metadata={"width": 4032, "gps": [1.5, 2.25]},
                     source_meta={"change_tag": "x1", "nested": {"a": [1, 2]}}, attempts=2,
                     error="was slow")
    [stored] = ledger.add_files([original], run_id=None)
    read = ledger.get(stored.id)  # type: ignore[arg-type]
    assert read is not None
    for column in ("source", "source_id", "filename", "size", "content_hash", "captured_at",
                   "media_type", "favorite", "group_id", "local_path", "pixel_synced",
                   "compression_metadata", "media_metadata", "source_meta", "attempts",
                   "error", "workflow_stage", "nas_archived"):
        assert getattr(read, column) == getattr(original, column), column
    assert read.created_at is not None and read.created_at.tzinfo is not None
    assert ledger.get(10_000) is None
    assert ledger.find("icloud", "nope") is None


def test_files_at_oldest_first_with_limit_and_source(ledger: Ledger) -> None:
    files = ledger.add_files([media(n, source="icloud" if n % 2 else "folder")
                              for n in range(6)], run_id=None)
    ledger.apply([StageChange(files[0].id, Stage.SKIPPED)], run_id=None)  # type: ignore[arg-type]
    at = ledger.files_at([Stage.DOWNLOADED])
    assert ids(at) == ids(files[1:])
    assert ids(ledger.files_at([Stage.DOWNLOADED], limit=2)) == ids(files[1:3])
    assert ids(ledger.files_at([Stage.DOWNLOADED], source="icloud")) == ids(files[1::2])
    assert ids(ledger.files_at([Stage.DOWNLOADED, Stage.SKIPPED])) == ids(files)


def test_files_where_matches_values_and_null(ledger: Ledger) -> None:
    files = ledger.add_files([media(1, group_id="g"), media(2, group_id="g", favorite=True),
                              media(3)], run_id=None)
    assert ids(ledger.files_where(group_id="g")) == ids(files[:2])
    assert ids(ledger.files_where(group_id=None)) == ids(files[2:])
    assert ids(ledger.files_where(group_id="g", favorite=True)) == ids(files[1:2])
    with pytest.raises(ValueError):
        ledger.files_where(no_such_column=1)


def test_apply_moves_updates_columns_and_writes_events(ledger: Ledger) -> None:
    files = added(ledger, 2)
    ledger.apply([StageChange(f.id, Stage.NAS_ARCHIVED,  # type: ignore[arg-type]
                              {"nas_path": f"/nas/{f.filename}", "nas_archived": True},
                              detail="archived") for f in files], run_id="run-2")
    for f in files:
        read = ledger.get(f.id)  # type: ignore[arg-type]
        assert read is not None
        assert (read.workflow_stage, read.nas_path, read.nas_archived) == (
            Stage.NAS_ARCHIVED, f"/nas/{f.filename}", True)
        last = ledger.events(f.id)[-1]  # type: ignore[arg-type]
        assert (last.from_stage, last.to_stage, last.run_id, last.detail) == (
            Stage.DOWNLOADED, Stage.NAS_ARCHIVED, "run-2", "archived")


def test_apply_refuses_the_whole_batch_when_one_move_is_illegal(ledger: Ledger) -> None:
    files = added(ledger, 3)
    ledger.apply([StageChange(files[2].id, Stage.COMPLETED)], run_id=None)  # type: ignore[arg-type]
    batch = [StageChange(files[0].id, Stage.NAS_ARCHIVED, {"nas_path": "/nas/a"}),  # type: ignore[arg-type]
             StageChange(files[1].id, Stage.PIXEL_SYNC_READY),  # type: ignore[arg-type]
             StageChange(files[2].id, Stage.NAS_ARCHIVED)]  # type: ignore[arg-type]
    with pytest.raises(IllegalTransition):
        ledger.apply(batch, run_id="run-3")
    assert ledger.counts_by_stage() == {"downloaded": 2, "completed": 1}
    assert ledger.get(files[0].id).nas_path is None  # type: ignore[arg-type,union-attr]
    assert [len(ledger.events(f.id)) for f in files] == [1, 1, 2]  # type: ignore[arg-type]


def test_apply_refuses_an_unknown_file(ledger: Ledger) -> None:
    [f] = added(ledger, 1)
    with pytest.raises(LedgerError, match="no file with id 999"):
        ledger.apply([StageChange(f.id, Stage.SKIPPED), StageChange(999, Stage.SKIPPED)],  # type: ignore[arg-type]
                      run_id=None)
    assert ledger.get(f.id).workflow_stage == Stage.DOWNLOADED  # type: ignore[arg-type,union-attr]


def test_failing_records_the_stage_failed_at_and_allows_a_retry(ledger: Ledger) -> None:
    [f] = added(ledger, 1)
    fid: int = f.id  # type: ignore[assignment]
    ledger.apply([StageChange(fid, Stage.NAS_ARCHIVED)], run_id=None)
    ledger.apply([StageChange(fid, Stage.FAILED, {"error": "truncated"})], run_id=None)
    read = ledger.get(fid)
    assert read is not None
    assert (read.workflow_stage, read.failed_stage, read.error) == (
        Stage.FAILED, Stage.NAS_ARCHIVED, "truncated")
    ledger.apply([StageChange(fid, Stage.NAS_ARCHIVED, {"error": None})], run_id=None)
    assert ledger.get(fid).error is None  # type: ignore[union-attr]


def test_a_file_may_move_twice_in_one_batch(ledger: Ledger) -> None:
    [f, g] = added(ledger, 2)
    fid: int = f.id  # type: ignore[assignment]
    ledger.apply([StageChange(g.id, Stage.NAS_ARCHIVED),  # type: ignore[arg-type]
                  StageChange(g.id, Stage.PROCESSING_READY)], run_id=None)  # type: ignore[arg-type]
    assert ledger.get(g.id).workflow_stage == Stage.PROCESSING_READY  # type: ignore[arg-type,union-attr]
    ledger.apply([StageChange(fid, Stage.NAS_ARCHIVED, {"nas_path": "/n"}),
                  StageChange(fid, Stage.PROCESSING_READY)], run_id=None)
    read = ledger.get(fid)
    assert read is not None and (read.workflow_stage, read.nas_path) == (
        Stage.PROCESSING_READY, "/n")
    assert [e.to_stage for e in ledger.events(fid)] == [
        Stage.DOWNLOADED, Stage.NAS_ARCHIVED, Stage.PROCESSING_READY]
    with pytest.raises(IllegalTransition):
        ledger.apply([StageChange(fid, Stage.COMPLETED), StageChange(fid, Stage.COMPRESSED)],
                      run_id=None)


def test_update_changes_columns_but_never_the_stage(ledger: Ledger) -> None:
    [f] = added(ledger, 1)
    fid: int = f.id  # type: ignore[assignment]
    ledger.update(fid, attempts=3, media_metadata={"w": 1}, pixel_version="v7")
    read = ledger.get(fid)
    assert read is not None and (read.attempts, read.media_metadata, read.pixel_version) == (
        3, {"w": 1}, "v7")
    with pytest.raises(LedgerError):
        ledger.update(fid, workflow_stage="completed")
    with pytest.raises(ValueError):
        ledger.update(fid, bogus=1)
    assert len(ledger.events(fid)) == 1


def _proofs(files: list[MediaFile], when: datetime) -> list[DeletionProof]:
    return [DeletionProof(file_id=f.id, source_id=f.source_id, nas_path=f"/nas/{n}",  # type: ignore[arg-type]
                          nas_hash="cd" * 32, pixel_version="v1" if n else None,
                          run_id="run-7", deleted_at=when, source=f.source,
                          state=DeletionState.INTENT)
            for n, f in enumerate(files)]


def test_an_intent_is_kept_as_written_and_is_open(ledger: Ledger) -> None:
    files = added(ledger, 2)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    proofs = _proofs(files, when)
    ledger.record_intents(proofs)
    assert ledger.deletions(files[1].id) == [proofs[1]]  # type: ignore[arg-type]
    assert ledger.open_intents("icloud") == proofs
    assert ledger.open_intents("folder:/elsewhere") == []
    assert ledger.get(files[0].id).source_deleted_at is None  # type: ignore[arg-type,union-attr]


def test_answers_confirm_or_keep_each_intent_in_one_call(ledger: Ledger) -> None:
    files = added(ledger, 3)
    asked = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    answered = asked + timedelta(seconds=2)
    ledger.record_intents(_proofs(files, asked))
    ledger.resolve_intents([
        DeleteAnswer(files[0].id, True, answered),  # type: ignore[arg-type]
        DeleteAnswer(files[1].id, False, answered, "changed at the source"),  # type: ignore[arg-type]
        DeleteAnswer(files[2].id, True, answered)])  # type: ignore[arg-type]
    assert ledger.open_intents("icloud") == []
    gone, kept = ledger.get(files[0].id), ledger.get(files[1].id)  # type: ignore[arg-type]
    assert gone is not None and gone.source_deleted_at == answered and gone.error is None
    assert kept is not None and kept.source_deleted_at is None
    assert kept.error == "not deleted at the source: changed at the source"
    [proof] = ledger.deletions(files[0].id)  # type: ignore[arg-type]
    assert (proof.state, proof.answer, proof.deleted_at) == (DeletionState.CONFIRMED, None,
                                                             answered)
    assert proof.nas_path == "/nas/0" and proof.run_id == "run-7"
    [refused] = ledger.deletions(files[1].id)  # type: ignore[arg-type]
    assert (refused.state, refused.answer) == (DeletionState.KEPT, "changed at the source")


def test_an_answer_closes_only_the_open_intent(ledger: Ledger) -> None:
    [file] = added(ledger, 1)
    first = datetime(2026, 1, 2, tzinfo=UTC)
    ledger.record_intents(_proofs([file], first))
    ledger.resolve_intents([DeleteAnswer(file.id, False, first, "busy")])  # type: ignore[arg-type]
    ledger.record_intents(_proofs([file], first + timedelta(days=1)))
    ledger.resolve_intents([DeleteAnswer(file.id, True, first + timedelta(days=1))])  # type: ignore[arg-type]
    states = [(p.state, p.answer) for p in ledger.deletions(file.id)]  # type: ignore[arg-type]
    assert states == [(DeletionState.KEPT, "busy"), (DeletionState.CONFIRMED, None)]


def test_open_intents_are_per_source_and_many_close_in_one_call(ledger: Ledger) -> None:
    here = added(ledger, 250, source="folder:/a")
    there = ledger.add_files([media(n, source="folder:/b") for n in range(3)], run_id=None)
    when = datetime(2026, 3, 1, tzinfo=UTC)
    ledger.record_intents(_proofs(here + there, when))
    assert len(ledger.open_intents("folder:/a")) == 250
    ledger.resolve_intents([DeleteAnswer(f.id, True, when) for f in here])  # type: ignore[arg-type]
    assert ledger.open_intents("folder:/a") == []
    assert [p.file_id for p in ledger.open_intents("folder:/b")] == ids(there)
    assert all(f.source_deleted_at == when for f in ledger.files_where(source="folder:/a"))


def test_sync_operations_history(ledger: Ledger) -> None:
    first = SyncOperation(operation_type="watch", status="running", run_id="r1")
    first_id = ledger.start_operation(first)
    second = SyncOperation(operation_type="reconcile", status="running",
                           detail={"source": "folder:/photos"})
    ledger.start_operation(second)
    first.status, first.files_scanned, first.files_added = "done", 12, 3
    first.detail = {"root": "/photos", "removed": ["a.jpg"]}
    ledger.finish_operation(first)
    recent = ledger.recent_operations()
    assert [op.operation_type for op in recent] == ["reconcile", "watch"]
    assert (recent[0].status, recent[0].detail) == ("running", {"source": "folder:/photos"})
    [watch] = ledger.recent_operations(operation_type="watch")
    assert (watch.id, watch.status, watch.files_scanned, watch.files_added, watch.detail) == (
        first_id, "done", 12, 3, {"root": "/photos", "removed": ["a.jpg"]})
    assert watch.finished_at is not None and watch.started_at is not None
    assert len(ledger.recent_operations(limit=1)) == 1
    with pytest.raises(LedgerError):
        ledger.finish_operation(SyncOperation(operation_type="watch", status="done"))


def test_file_records_upsert_delete_and_stale(ledger: Ledger) -> None:
    def record(path: str, generation: int, size: int = 1) -> FileRecord:
        return FileRecord(root="/r", rel_path=path, size=size, mtime_ns=10**18 + size,
                          content_hash=None, scan_generation=generation)

    ledger.upsert_file_records([record("a.jpg", 1), record("b/c d.jpg", 1),
                                record("old.jpg", 1)])
    ledger.upsert_file_records([record("a.jpg", 2, size=5), record("b/c d.jpg", 2)])
    ledger.upsert_file_records([FileRecord("/other", "a.jpg", 1, 1, "h", 1)])
    records = ledger.file_records("/r")
    assert sorted(records) == ["a.jpg", "b/c d.jpg", "old.jpg"]
    assert (records["a.jpg"].size, records["a.jpg"].mtime_ns) == (5, 10**18 + 5)
    assert records["a.jpg"].updated_at is not None
    assert ledger.delete_stale_file_records("/r", 2) == 1
    ledger.delete_file_records("/r", ["b/c d.jpg"])
    assert sorted(ledger.file_records("/r")) == ["a.jpg"]
    assert sorted(ledger.file_records("/other")) == ["a.jpg"]


def test_file_signatures_and_touching_a_scan_generation(ledger: Ledger) -> None:
    ledger.upsert_file_records([FileRecord("/r", f"f{i}.jpg", i, 10**18 + i, None, 1)
                                for i in range(3)])
    ledger.upsert_file_records([FileRecord("/other", "f0.jpg", 9, 9, None, 1)])
    assert ledger.file_signatures("/r") == {f"f{i}.jpg": (i, 10**18 + i) for i in range(3)}
    ledger.touch_file_records("/r", ["f0.jpg", "f2.jpg"], 2)
    ledger.touch_file_records("/r", [], 2)
    assert {p: r.scan_generation for p, r in ledger.file_records("/r").items()} == {
        "f0.jpg": 2, "f1.jpg": 1, "f2.jpg": 2}
    assert ledger.file_records("/other")["f0.jpg"].scan_generation == 1


def test_claims_are_exclusive_and_end_with_the_next_stage(ledger: Ledger) -> None:
    files = added(ledger, 5)
    mine = ledger.claim([Stage.DOWNLOADED], 3, owner="worker-a")
    theirs = ledger.claim([Stage.DOWNLOADED], 3, owner="worker-b")
    assert ids(mine) == ids(files[:3]) and ids(theirs) == ids(files[3:])
    assert ledger.claim([Stage.DOWNLOADED], 3, owner="worker-c") == []
    assert ledger.claim([Stage.DOWNLOADED], 3, owner="worker-a") == []  # held already
    ledger.apply([StageChange(files[0].id, Stage.FAILED)], run_id=None)  # type: ignore[arg-type]
    assert ids(ledger.claim([Stage.FAILED], 5, owner="worker-c")) == ids(files[:1])
    assert ledger.release("worker-a") == 2
    assert ids(ledger.claim([Stage.DOWNLOADED], 5, owner="worker-c")) == ids(files[1:3])


def test_a_lapsed_claim_can_be_taken(ledger: Ledger) -> None:
    files = added(ledger, 2)
    ledger.claim([Stage.DOWNLOADED], 2, owner="crashed")
    assert ledger.claim([Stage.DOWNLOADED], 2, owner="next", lease_seconds=3600) == []
    taken = ledger.claim([Stage.DOWNLOADED], 2, owner="next", lease_seconds=0)
    assert ids(taken) == ids(files)


def test_claims_of_a_killed_worker_are_free_at_once(
        ledger: Ledger, backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "supabase":
        pytest.skip("the REST API has no session to outlive: its claims end by lease")
    files = added(ledger, 3)
    where = str(tmp_path / "ledger.db") if backend == "sqlite" else request.getfixturevalue(
        "pg_url")
    worker = subprocess.run([sys.executable, "-m", "tests.ledger.claim_and_die", backend,
                             where], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert worker.returncode == -signal.SIGKILL
    assert [int(i) for i in worker.stdout.split()] == ids(files[:2])
    assert ids(ledger.claim([Stage.DOWNLOADED], 3, owner="rerun")) == ids(files)


def test_read_only_ledger_refuses_every_write(make_ledger: LedgerFactory) -> None:
    writable = make_ledger()
    [f] = added(writable, 1)
    reader = make_ledger(read_only=True)
    assert reader.get(f.id) is not None  # type: ignore[arg-type]
    writes = [
        lambda: reader.add_files([media(9)], run_id=None),
        lambda: reader.apply([StageChange(f.id, Stage.SKIPPED)], run_id=None),  # type: ignore[arg-type]
        lambda: reader.update(f.id, attempts=1),  # type: ignore[arg-type]
        lambda: reader.claim([Stage.DOWNLOADED], 1, owner="dry"),
        lambda: reader.start_operation(SyncOperation("watch", "running")),
        lambda: reader.upsert_file_records([FileRecord("/r", "a", 1, 1, None, 1)]),
    ]
    for write in writes:
        with pytest.raises(LedgerError):
            write()
    assert writable.counts_by_stage() == {"downloaded": 1}
    assert writable.get(f.id).attempts == 0  # type: ignore[arg-type,union-attr]


def test_schema_version_and_table_counts(ledger: Ledger) -> None:
    added(ledger, 2)
    assert ledger.schema_version() == "20261206041500"
    counts = ledger.table_counts()
    assert set(counts) == set(TABLES)
    assert (counts["media_files"], counts["stage_events"], counts["file_records"]) == (2, 2, 0)


def test_big_batches_cross_every_page_and_chunk(ledger: Ledger) -> None:
    files = ledger.add_files([media(n, captured_at=SHOT + timedelta(seconds=n))
                              for n in range(1234)], run_id="big")
    assert len(files) == 1234
    assert len(ledger.known_source_ids("icloud")) == 1234
    ledger.apply([StageChange(f.id, Stage.NAS_ARCHIVED, {"nas_archived": True})  # type: ignore[arg-type]
                  for f in files], run_id="big")
    at = ledger.files_at([Stage.NAS_ARCHIVED])
    assert ids(at) == ids(files) and all(m.nas_archived for m in at)
    assert ledger.counts_by_stage() == {"nas_archived": 1234}
    assert len(ledger.claim([Stage.NAS_ARCHIVED], 1100, owner="w")) == 1100
    assert ledger.table_counts()["stage_events"] == 2468

