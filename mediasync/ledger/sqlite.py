"""The embedded ledger: one SQLite file in WAL mode, batched writes."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from mediasync.errors import LedgerError
from mediasync.ledger.base import DeletionProof, FileRecord
from mediasync.ledger.columns import (
    MEDIA_COLUMNS,
    check_columns,
    decode_row,
    encode_text,
    from_text_time,
    to_text_time,
    utcnow,
)
from mediasync.model import (
    MediaFile,
    Stage,
    StageChange,
    StageEvent,
    SyncOperation,
    check_move,
)

_INSERT_COLUMNS = tuple(c for c in MEDIA_COLUMNS if c != "id")


class SqliteLedger:
    backend = "sqlite"

    def __init__(self, path: Path | None, read_only: bool = False) -> None:
        """`path=None` is an in-memory ledger. `read_only` opens an existing file without
        any write (dry runs); a missing file then reads as an empty ledger."""
        self.path = path
        self.read_only = read_only
        self._lock = threading.RLock()
        try:
            self._db = self._connect(path, read_only)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open ledger {path}: {exc}") from None
        if self._db_is_fresh():
            self._create_schema()

    @staticmethod
    def _connect(path: Path | None, read_only: bool) -> sqlite3.Connection:
        if path is None or (read_only and not path.exists()):
            db = sqlite3.connect(":memory:", check_same_thread=False)
        elif read_only:
            # With no -wal file the database is fully checkpointed and nobody is writing:
            # `immutable` then reads it without creating -wal/-shm files beside it.
            wal = path.with_name(path.name + "-wal")
            flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
            db = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True,
                                 check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _db_is_fresh(self) -> bool:
        row = self._db.execute(
            "SELECT count(*) FROM sqlite_master WHERE name='media_files'").fetchone()
        return row[0] == 0

    def _create_schema(self) -> None:
        script = resources.files("mediasync.ledger").joinpath("sqlite_schema.sql").read_text()
        self._db.executescript(script)

    def migrate(self) -> None:
        if not self.read_only:
            self._create_schema()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with self._db:
                    yield self._db
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {self.path or ':memory:'}: {exc}") from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {self.path or ':memory:'}: {exc}") from None

    # media_files ------------------------------------------------------------------------
    def known_source_ids(self, source: str) -> set[str]:
        rows = self._query("SELECT source_id FROM media_files WHERE source = ?", (source,))
        return {row[0] for row in rows}

    def get(self, file_id: int) -> MediaFile | None:
        rows = self._query("SELECT * FROM media_files WHERE id = ?", (file_id,))
        return decode_row(dict(rows[0])) if rows else None

    def find(self, source: str, source_id: str) -> MediaFile | None:
        rows = self._query("SELECT * FROM media_files WHERE source = ? AND source_id = ?",
                           (source, source_id))
        return decode_row(dict(rows[0])) if rows else None

    def add_files(self, files: Sequence[MediaFile], run_id: str | None) -> list[MediaFile]:
        now = utcnow()
        placeholders = ", ".join("?" for _ in _INSERT_COLUMNS)
        sql = (f"INSERT INTO media_files ({', '.join(_INSERT_COLUMNS)}) VALUES ({placeholders})"
               " ON CONFLICT (source, source_id) DO NOTHING RETURNING id")
        added: list[MediaFile] = []
        with self._transaction() as db:
            for media in files:
                check_move(None, media.workflow_stage, media.label)
                media.created_at = media.updated_at = now
                values = [encode_text(c, getattr(media, c)) for c in _INSERT_COLUMNS]
                row = db.execute(sql, values).fetchone()
                if row is None:
                    continue
                media.id = row[0]
                added.append(media)
            db.executemany(
                "INSERT INTO stage_events (file_id, from_stage, to_stage, run_id, at, detail)"
                " VALUES (?, NULL, ?, ?, ?, ?)",
                [(m.id, m.workflow_stage.value, run_id, to_text_time(now), m.error)
                 for m in added],
            )
        return added

    def files_at(self, stages: Iterable[Stage], limit: int | None = None,
                 source: str | None = None) -> list[MediaFile]:
        stage_values = [Stage(s).value for s in stages]
        sql = (f"SELECT * FROM media_files WHERE workflow_stage IN "
               f"({', '.join('?' for _ in stage_values)})")
        params: list[Any] = list(stage_values)
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [decode_row(dict(r)) for r in self._query(sql, params)]

    def files_where(self, **equals: Any) -> list[MediaFile]:
        check_columns(equals)
        clauses = " AND ".join(
            f"{c} IS NULL" if v is None else f"{c} = ?" for c, v in equals.items())
        params = [encode_text(c, v) for c, v in equals.items() if v is not None]
        sql = "SELECT * FROM media_files" + (f" WHERE {clauses}" if clauses else "")
        return [decode_row(dict(r)) for r in self._query(sql + " ORDER BY id", params)]

    def apply(self, changes: Sequence[StageChange], run_id: str | None) -> None:
        if not changes:
            return
        now = to_text_time(utcnow())
        with self._transaction() as db:
            current = self._stages_of(db, [c.file_id for c in changes])
            for change in changes:
                if change.file_id not in current:
                    raise LedgerError(f"ledger has no file with id {change.file_id}")
                before = current[change.file_id]
                check_move(before, change.to_stage, f"file {change.file_id}")
                columns = {**change.updates, "workflow_stage": change.to_stage.value}
                if change.to_stage == Stage.FAILED and before != Stage.FAILED:
                    columns.setdefault("failed_stage", before.value)
                self._update_row(db, change.file_id, columns, now)
                db.execute(
                    "INSERT INTO stage_events (file_id, from_stage, to_stage, run_id, at, detail)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (change.file_id, before.value, change.to_stage.value, run_id, now,
                     change.detail),
                )
                current[change.file_id] = change.to_stage

    @staticmethod
    def _stages_of(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, Stage]:
        stages: dict[int, Stage] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = db.execute(
                f"SELECT id, workflow_stage FROM media_files WHERE id IN "
                f"({', '.join('?' for _ in chunk)})", chunk).fetchall()
            stages.update({row[0]: Stage(row[1]) for row in rows})
        return stages

    @staticmethod
    def _update_row(db: sqlite3.Connection, file_id: int, columns: dict[str, Any],
                    now: str | None) -> None:
        check_columns(columns)
        columns = {**columns, "updated_at": now}
        assignments = ", ".join(f"{c} = ?" for c in columns)
        values = [encode_text(c, v) if c != "updated_at" else v for c, v in columns.items()]
        db.execute(f"UPDATE media_files SET {assignments} WHERE id = ?", [*values, file_id])

    def update(self, file_id: int, run_id: str | None = None, **columns: Any) -> None:
        if "workflow_stage" in columns:
            raise LedgerError("stage changes go through apply()")
        with self._transaction() as db:
            self._update_row(db, file_id, columns, to_text_time(utcnow()))

    def counts_by_stage(self) -> dict[str, int]:
        rows = self._query("SELECT workflow_stage, count(*) FROM media_files GROUP BY 1")
        return {row[0]: row[1] for row in rows}

    def events(self, file_id: int) -> list[StageEvent]:
        rows = self._query("SELECT * FROM stage_events WHERE file_id = ? ORDER BY id",
                           (file_id,))
        return [StageEvent(file_id=r["file_id"],
                           from_stage=Stage(r["from_stage"]) if r["from_stage"] else None,
                           to_stage=Stage(r["to_stage"]), run_id=r["run_id"],
                           at=from_text_time(r["at"]), detail=r["detail"])  # type: ignore[arg-type]
                for r in rows]

    def record_deletions(self, proofs: Sequence[DeletionProof]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO source_deletions (file_id, source_id, nas_path, nas_hash,"
                " pixel_version, run_id, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(p.file_id, p.source_id, p.nas_path, p.nas_hash, p.pixel_version, p.run_id,
                  to_text_time(p.deleted_at)) for p in proofs],
            )
            db.executemany(
                "UPDATE media_files SET source_deleted_at = ?, updated_at = ? WHERE id = ?",
                [(to_text_time(p.deleted_at), to_text_time(utcnow()), p.file_id)
                 for p in proofs],
            )

    def deletions(self, file_id: int) -> list[DeletionProof]:
        rows = self._query("SELECT * FROM source_deletions WHERE file_id = ? ORDER BY id",
                           (file_id,))
        return [DeletionProof(file_id=r["file_id"], source_id=r["source_id"],
                              nas_path=r["nas_path"], nas_hash=r["nas_hash"],
                              pixel_version=r["pixel_version"], run_id=r["run_id"],
                              deleted_at=from_text_time(r["deleted_at"]))  # type: ignore[arg-type]
                for r in rows]

    # sync_operations -----------------------------------------------------------------------
    def start_operation(self, op: SyncOperation) -> int:
        op.started_at = op.started_at or utcnow()
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO sync_operations (operation_type, status, run_id, started_at)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (op.operation_type, op.status, op.run_id, to_text_time(op.started_at)),
            ).fetchone()
        op.id = row[0]
        return op.id

    def finish_operation(self, op: SyncOperation) -> None:
        if op.id is None:
            raise LedgerError("finish_operation needs an operation from start_operation")
        op.finished_at = op.finished_at or utcnow()
        with self._transaction() as db:
            db.execute(
                "UPDATE sync_operations SET status = ?, finished_at = ?, files_scanned = ?,"
                " files_added = ?, files_updated = ?, files_removed = ?, files_failed = ?,"
                " error = ?, detail = ? WHERE id = ?",
                (op.status, to_text_time(op.finished_at), op.files_scanned, op.files_added,
                 op.files_updated, op.files_removed, op.files_failed, op.error,
                 json.dumps(op.detail, default=str) if op.detail is not None else None, op.id),
            )

    def recent_operations(self, limit: int = 10,
                          operation_type: str | None = None) -> list[SyncOperation]:
        sql, params = "SELECT * FROM sync_operations", []
        if operation_type:
            sql += " WHERE operation_type = ?"
            params.append(operation_type)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [_decode_operation(dict(r)) for r in rows]

    # file_records ------------------------------------------------------------------------
    def file_records(self, root: str) -> dict[str, FileRecord]:
        rows = self._query("SELECT * FROM file_records WHERE root = ?", (root,))
        return {r["rel_path"]: FileRecord(
            root=r["root"], rel_path=r["rel_path"], size=r["size"], mtime_ns=r["mtime_ns"],
            content_hash=r["content_hash"], scan_generation=r["scan_generation"],
            updated_at=from_text_time(r["updated_at"])) for r in rows}

    def upsert_file_records(self, records: Sequence[FileRecord]) -> None:
        now = to_text_time(utcnow())
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO file_records (root, rel_path, size, mtime_ns, content_hash,"
                " scan_generation, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (root, rel_path) DO UPDATE SET size = excluded.size,"
                " mtime_ns = excluded.mtime_ns, content_hash = excluded.content_hash,"
                " scan_generation = excluded.scan_generation, updated_at = excluded.updated_at",
                [(r.root, r.rel_path, r.size, r.mtime_ns, r.content_hash, r.scan_generation,
                  now) for r in records],
            )

    def delete_file_records(self, root: str, rel_paths: Sequence[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM file_records WHERE root = ? AND rel_path = ?",
                           [(root, p) for p in rel_paths])

    def delete_stale_file_records(self, root: str, generation: int) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM file_records WHERE root = ? AND scan_generation <> ?",
                (root, generation))
            return cursor.rowcount


def _decode_operation(row: dict[str, Any]) -> SyncOperation:
    row["started_at"] = from_text_time(row["started_at"])
    row["finished_at"] = from_text_time(row["finished_at"])
    row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return SyncOperation(**row)
