"""The part of the ledger SQLite and Postgres speak alike, written once.

Statements use `?` placeholders; a backend says how to run them (`_query`, `_execute`,
`_execute_many`) and how it stores times and JSON. What each does its own way (opening,
transactions, inserting files, applying stage changes, claiming) stays in its module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from mediasync.errors import LedgerError
from mediasync.ledger.base import (
    TABLES,
    DeleteAnswer,
    DeletionProof,
    DeletionState,
    FileRecord,
    kept_error,
)
from mediasync.ledger.changes import CLAIM_COLUMNS, check_note
from mediasync.ledger.columns import (
    check_columns,
    decode_deletion,
    decode_event,
    decode_file_record,
    decode_operation,
    decode_row,
    utcnow,
)
from mediasync.model import FileNote, MediaFile, Signature, Stage, StageEvent, SyncOperation

Rows = list[dict[str, Any]]
Batch = tuple[str, Sequence[Sequence[Any]]]  # one statement, the parameters of each run


def marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


class SqlLedger:
    # how a backend runs statements -------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Rows of a read."""
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, Rows]:
        """One write in its own transaction: rows affected, rows returned."""
        raise NotImplementedError

    def _execute_many(self, batches: Sequence[Batch]) -> None:
        """Several statements, each run for many parameter rows, in one transaction."""
        raise NotImplementedError

    def _encode(self, column: str, value: Any) -> Any:
        """A media_files value as the backend stores it."""
        raise NotImplementedError

    def _time(self, value: datetime | None) -> Any:
        raise NotImplementedError

    def _json(self, value: Any) -> Any:
        raise NotImplementedError

    # shared statements -------------------------------------------------------------------
    def table_counts(self) -> dict[str, int]:
        sql = " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM {t}" for t in TABLES)
        return {row["t"]: row["n"] for row in self._query(sql)}

    def known_source_ids(self, source: str) -> set[str]:
        rows = self._query("SELECT source_id FROM media_files WHERE source = ?", (source,))
        return {row["source_id"] for row in rows}

    # how the backend reads source_meta's value at the key given as `?` (SQLite and
    # Postgres spell JSON access differently)
    _META_TEXT: str

    def source_signatures(self, source: str, tag: str) -> dict[str, Signature]:
        rows = self._query(
            f"SELECT source_id, size, {self._META_TEXT} AS tag FROM media_files"
            " WHERE source = ? AND content_hash IS NOT NULL", (tag, source))
        return {r["source_id"]: (r["size"], None if r["tag"] is None else str(r["tag"]))
                for r in rows}

    def get(self, file_id: int) -> MediaFile | None:
        rows = self._query("SELECT * FROM media_files WHERE id = ?", (file_id,))
        return decode_row(rows[0]) if rows else None

    def find(self, source: str, source_id: str) -> MediaFile | None:
        rows = self._query("SELECT * FROM media_files WHERE source = ? AND source_id = ?",
                           (source, source_id))
        return decode_row(rows[0]) if rows else None

    def files_at(self, stages: Iterable[Stage], limit: int | None = None,
                 source: str | None = None) -> list[MediaFile]:
        params: list[Any] = [Stage(s).value for s in stages]
        sql = f"SELECT * FROM media_files WHERE workflow_stage IN ({marks(len(params))})"
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [decode_row(r) for r in self._query(sql, params)]

    def files_where(self, **equals: Any) -> list[MediaFile]:
        check_columns(equals)
        clauses = " AND ".join(
            f"{c} IS NULL" if v is None else f"{c} = ?" for c, v in equals.items())
        params = [self._encode(c, v) for c, v in equals.items() if v is not None]
        sql = "SELECT * FROM media_files" + (f" WHERE {clauses}" if clauses else "")
        return [decode_row(r) for r in self._query(sql + " ORDER BY id", params)]

    def update(self, file_id: int, run_id: str | None = None, **columns: Any) -> None:
        if "workflow_stage" in columns:
            raise LedgerError("stage changes go through apply()")
        check_columns(columns)
        assignments = "".join(f"{c} = ?, " for c in columns)
        self._execute(f"UPDATE media_files SET {assignments}updated_at = ? WHERE id = ?",
                      [*(self._encode(c, v) for c, v in columns.items()),
                       self._time(utcnow()), file_id])

    def note(self, notes: Sequence[FileNote], run_id: str | None) -> None:
        if not notes:
            return
        for note in notes:
            check_note(note)
        now = self._time(utcnow())
        batches: list[Batch] = [(
            # the event first: it reads the stage, which the update leaves as it is
            "INSERT INTO stage_events (file_id, from_stage, to_stage, run_id, at, detail)"
            " SELECT id, workflow_stage, workflow_stage, ?, ?, ? FROM media_files WHERE id = ?",
            [(run_id, now, n.detail, n.file_id) for n in notes])]
        for columns, group in groupby(notes, key=lambda n: tuple(n.updates)):
            assignments = "".join(f"{c} = ?, " for c in columns)
            batches.append((f"UPDATE media_files SET {assignments}updated_at = ? WHERE id = ?",
                            [[*(self._encode(c, n.updates[c]) for c in columns), now,
                              n.file_id] for n in group]))
        self._execute_many(batches)

    def release(self, owner: str) -> int:
        cleared = ", ".join(f"{c} = NULL" for c in CLAIM_COLUMNS)
        return self._execute(f"UPDATE media_files SET {cleared} WHERE claimed_by = ?",
                             (owner,))[0]

    def counts_by_stage(self) -> dict[str, int]:
        rows = self._query("SELECT workflow_stage AS s, count(*) AS n FROM media_files"
                           " GROUP BY workflow_stage")
        return {row["s"]: row["n"] for row in rows}

    def events(self, file_id: int) -> list[StageEvent]:
        rows = self._query("SELECT * FROM stage_events WHERE file_id = ? ORDER BY id",
                           (file_id,))
        return [decode_event(r) for r in rows]

    def record_intents(self, proofs: Sequence[DeletionProof]) -> None:
        if not proofs:
            return
        self._execute_many([(
            "INSERT INTO source_deletions (file_id, source_id, nas_path, nas_hash,"
            " pixel_version, run_id, deleted_at, source, state)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(p.file_id, p.source_id, p.nas_path, p.nas_hash, p.pixel_version, p.run_id,
              self._time(p.deleted_at), p.source, DeletionState.INTENT.value)
             for p in proofs])])

    def resolve_intents(self, answers: Sequence[DeleteAnswer]) -> None:
        if not answers:
            return
        now = self._time(utcnow())
        gone = [a for a in answers if a.deleted]
        kept = [a for a in answers if not a.deleted]
        close = ("UPDATE source_deletions SET state = ?, answer = ?, deleted_at = ?"
                 " WHERE file_id = ? AND state = 'intent'")
        self._execute_many([
            (close, [(DeletionState.CONFIRMED.value, None, self._time(a.at), a.file_id)
                     for a in gone]),
            ("UPDATE media_files SET source_deleted_at = ?, updated_at = ? WHERE id = ?",
             [(self._time(a.at), now, a.file_id) for a in gone]),
            (close, [(DeletionState.KEPT.value, a.answer, self._time(a.at), a.file_id)
                     for a in kept]),
            ("UPDATE media_files SET error = ?, updated_at = ? WHERE id = ?",
             [(kept_error(a.answer), now, a.file_id) for a in kept]),
        ])

    def open_intents(self, source: str) -> list[DeletionProof]:
        rows = self._query("SELECT * FROM source_deletions WHERE source = ?"
                           " AND state = 'intent' ORDER BY file_id", (source,))
        return [decode_deletion(r) for r in rows]

    def deletions(self, file_id: int) -> list[DeletionProof]:
        rows = self._query("SELECT * FROM source_deletions WHERE file_id = ? ORDER BY id",
                           (file_id,))
        return [decode_deletion(r) for r in rows]

    # sync_operations ----------------------------------------------------------------------
    def start_operation(self, op: SyncOperation) -> int:
        op.started_at = op.started_at or utcnow()
        _, rows = self._execute(
            "INSERT INTO sync_operations (operation_type, status, run_id, started_at, detail)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (op.operation_type, op.status, op.run_id, self._time(op.started_at),
             self._json(op.detail) if op.detail is not None else None))
        op.id = rows[0]["id"]
        return op.id

    def finish_operation(self, op: SyncOperation) -> None:
        if op.id is None:
            raise LedgerError("finish_operation needs an operation from start_operation")
        op.finished_at = op.finished_at or utcnow()
        self._execute(
            "UPDATE sync_operations SET status = ?, finished_at = ?, files_scanned = ?,"
            " files_added = ?, files_updated = ?, files_removed = ?, files_failed = ?,"
            " error = ?, detail = ? WHERE id = ?",
            (op.status, self._time(op.finished_at), op.files_scanned, op.files_added,
             op.files_updated, op.files_removed, op.files_failed, op.error,
             self._json(op.detail) if op.detail is not None else None, op.id))

    def recent_operations(self, limit: int = 10,
                          operation_type: str | None = None) -> list[SyncOperation]:
        sql, params = "SELECT * FROM sync_operations", []
        if operation_type:
            sql += " WHERE operation_type = ?"
            params.append(operation_type)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [decode_operation(r) for r in rows]

    # file_records ------------------------------------------------------------------------
    def file_records(self, root: str) -> dict[str, FileRecord]:
        rows = self._query("SELECT * FROM file_records WHERE root = ?", (root,))
        return {r["rel_path"]: decode_file_record(r) for r in rows}

    def file_signatures(self, root: str) -> dict[str, tuple[int, int]]:
        rows = self._query("SELECT rel_path, size, mtime_ns FROM file_records WHERE root = ?",
                           (root,))
        return {r["rel_path"]: (r["size"], r["mtime_ns"]) for r in rows}

    def touch_file_records(self, root: str, rel_paths: Sequence[str], generation: int) -> None:
        if rel_paths:
            self._execute_many([(
                "UPDATE file_records SET scan_generation = ? WHERE root = ? AND rel_path = ?",
                [(generation, root, p) for p in rel_paths])])

    def upsert_file_records(self, records: Sequence[FileRecord]) -> None:
        now = self._time(utcnow())
        self._execute_many([(
            "INSERT INTO file_records (root, rel_path, size, mtime_ns, content_hash,"
            " scan_generation, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (root, rel_path) DO UPDATE SET size = excluded.size,"
            " mtime_ns = excluded.mtime_ns, content_hash = excluded.content_hash,"
            " scan_generation = excluded.scan_generation, updated_at = excluded.updated_at",
            [(r.root, r.rel_path, r.size, r.mtime_ns, r.content_hash, r.scan_generation, now)
             for r in records])])

    def delete_file_records(self, root: str, rel_paths: Sequence[str]) -> None:
        self._execute_many([("DELETE FROM file_records WHERE root = ? AND rel_path = ?",
                             [(root, p) for p in rel_paths])])

    def delete_stale_file_records(self, root: str, generation: int) -> int:
        return self._execute(
            "DELETE FROM file_records WHERE root = ? AND scan_generation < ?",
            (root, generation))[0]
