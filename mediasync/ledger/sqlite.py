"""The embedded ledger: one SQLite file in WAL mode, batched writes."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from mediasync.errors import LedgerError
from mediasync.ledger.base import DEFAULT_LEASE_SECONDS
from mediasync.ledger.changes import CLAIM_COLUMNS, EVENT_COLUMNS, plan_changes, prepare_new
from mediasync.ledger.columns import MEDIA_COLUMNS, decode_row, encode_text, to_text_time, utcnow
from mediasync.ledger.sessions import process_alive, process_session
from mediasync.ledger.sql import Batch, Rows, SqlLedger, marks
from mediasync.model import MediaFile, Stage, StageChange

_INSERT_COLUMNS = tuple(c for c in MEDIA_COLUMNS if c != "id")
_DELETION_STATE_COLUMNS = (
    ("source", "TEXT"),
    ("state", "TEXT NOT NULL DEFAULT 'confirmed'"
              " CHECK (state IN ('intent', 'confirmed', 'kept'))"),
    ("answer", "TEXT"),
)


class SqliteLedger(SqlLedger):
    backend = "sqlite"
    _META_TEXT = "json_extract(source_meta, '$.' || ?)"

    def __init__(self, path: Path | None, read_only: bool = False) -> None:
        """`path=None` is an in-memory ledger. `read_only` opens an existing file without
        any write (dry runs); a missing file then reads as an empty ledger."""
        self.path = path
        self.read_only = read_only
        self._session = process_session()
        self._lock = threading.RLock()
        try:
            self._db = self._connect(path, read_only)
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open ledger {path}: {exc}") from None
        try:
            # a file that is no database, or a folder we may not write, shows only here
            if read_only and path is not None and self._db_is_fresh():
                # no tables yet (someone is creating them): empty, as a missing file reads
                self._db.close()
                self._db = self._connect(None, read_only)
            if self._db_is_fresh() or not read_only:
                self._create_schema()
        except sqlite3.Error as exc:
            self._db.close()
            raise LedgerError(f"cannot open ledger {path}: {exc}") from None

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
        """Create what is missing, the columns added since a ledger was made included."""
        if not self._db_is_fresh():
            present = {row[1] for row in self._db.execute("PRAGMA table_info(media_files)")}
            for column in CLAIM_COLUMNS:
                if column not in present:
                    self._db.execute(f"ALTER TABLE media_files ADD COLUMN {column} TEXT")
            self._add_deletion_states()
        script = resources.files("mediasync.ledger").joinpath("sqlite_schema.sql").read_text()
        self._db.executescript(script)

    def _add_deletion_states(self) -> None:
        """Migration 20261206041500 on a ledger made before it: the rows it has were all
        written after a confirmed delete, which is what the column default says."""
        present = {row[1] for row in self._db.execute("PRAGMA table_info(source_deletions)")}
        if not present or "state" in present:
            return  # the script makes the table whole, or it is up to date
        with self._db:
            for column, kind in _DELETION_STATE_COLUMNS:
                self._db.execute(f"ALTER TABLE source_deletions ADD COLUMN {column} {kind}")
            self._db.execute("UPDATE source_deletions SET source = (SELECT m.source FROM"
                             " media_files m WHERE m.id = source_deletions.file_id)")

    def migrate(self) -> None:
        if not self.read_only:
            self._create_schema()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def schema_version(self) -> str | None:
        if not self._query("SELECT name FROM sqlite_master WHERE name = 'schema_migrations'"):
            return None  # a ledger made by the first schema, opened read-only
        return self._query("SELECT max(version) AS v FROM schema_migrations")[0]["v"]

    @contextmanager
    def _transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """`immediate` takes the write lock before the first read, so that what is read
        cannot change before it is written (claims)."""
        with self._lock:
            try:
                with self._db:
                    if immediate:
                        self._db.execute("BEGIN IMMEDIATE")
                    yield self._db
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {self.path or ':memory:'}: {exc}") from None

    # how statements run (see SqlLedger) --------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with self._lock:
            try:
                return [dict(r) for r in self._db.execute(sql, params).fetchall()]
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {self.path or ':memory:'}: {exc}") from None

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, Rows]:
        with self._transaction() as db:
            cursor = db.execute(sql, params)
            rows = [dict(r) for r in cursor.fetchall()]
            return cursor.rowcount, rows

    def _execute_many(self, batches: Sequence[Batch]) -> None:
        with self._transaction() as db:
            for sql, rows in batches:
                db.executemany(sql, rows)

    def _encode(self, column: str, value: Any) -> Any:
        return encode_text(column, value)

    def _time(self, value: datetime | None) -> Any:
        return to_text_time(value)

    def _json(self, value: Any) -> Any:
        return json.dumps(value, default=str)

    # what SQLite does its own way ----------------------------------------------------------
    def add_files(self, files: Sequence[MediaFile], run_id: str | None) -> list[MediaFile]:
        now = utcnow()
        sql = (f"INSERT INTO media_files ({', '.join(_INSERT_COLUMNS)})"
               f" VALUES ({marks(len(_INSERT_COLUMNS))})"
               " ON CONFLICT (source, source_id) DO NOTHING RETURNING id")
        added: list[MediaFile] = []
        prepare_new(files, now)
        with self._transaction() as db:
            for media in files:
                values = [encode_text(c, getattr(media, c)) for c in _INSERT_COLUMNS]
                row = db.execute(sql, values).fetchone()
                if row is None:
                    continue
                media.id = row[0]
                added.append(media)
            db.executemany(
                f"INSERT INTO stage_events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                [(m.id, None, m.workflow_stage.value, run_id, to_text_time(now), m.error)
                 for m in added],
            )
        return added

    def apply(self, changes: Sequence[StageChange], run_id: str | None) -> None:
        if not changes:
            return
        now = to_text_time(utcnow())
        with self._transaction() as db:
            planned = plan_changes(changes, self._stages_of(db, [c.file_id for c in changes]))
            for plan in planned:
                self._update_row(db, plan.file_id,
                                 {**plan.columns, **dict.fromkeys(CLAIM_COLUMNS)}, now)
            db.executemany(
                f"INSERT INTO stage_events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                [plan.event(run_id, now) for plan in planned])

    def claim(self, stages: Iterable[Stage], limit: int, owner: str,
              lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[MediaFile]:
        stage_values = [Stage(s).value for s in stages]
        now = utcnow()
        lapsed = to_text_time(now - timedelta(seconds=lease_seconds))
        with self._transaction(immediate=True) as db:
            gone = self._gone_sessions(db)
            rows = db.execute(
                f"UPDATE media_files SET claimed_by = ?, claimed_at = ?, claimed_session = ?"
                f" WHERE id IN (SELECT id FROM media_files WHERE workflow_stage IN"
                f" ({marks(len(stage_values))}) AND (claimed_by IS NULL OR claimed_at < ?"
                f" OR claimed_session IN ({marks(len(gone))})) ORDER BY id LIMIT ?) RETURNING *",
                [owner, to_text_time(now), self._session, *stage_values, lapsed, *gone,
                 limit]).fetchall()
        return sorted((decode_row(dict(r)) for r in rows), key=lambda m: m.id or 0)

    @staticmethod
    def _gone_sessions(db: sqlite3.Connection) -> list[str]:
        """Holders of claims whose process has ended (killed, crashed)."""
        rows = db.execute("SELECT DISTINCT claimed_session FROM media_files"
                          " WHERE claimed_session IS NOT NULL").fetchall()
        return [row[0] for row in rows if not process_alive(row[0])]

    @staticmethod
    def _stages_of(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, Stage]:
        stages: dict[int, Stage] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = db.execute(
                f"SELECT id, workflow_stage FROM media_files WHERE id IN ({marks(len(chunk))})",
                chunk).fetchall()
            stages.update({row[0]: Stage(row[1]) for row in rows})
        return stages

    @staticmethod
    def _update_row(db: sqlite3.Connection, file_id: int, columns: dict[str, Any],
                    now: str | None) -> None:
        columns = {**columns, "updated_at": now}
        assignments = ", ".join(f"{c} = ?" for c in columns)
        values = [encode_text(c, v) if c != "updated_at" else v for c, v in columns.items()]
        db.execute(f"UPDATE media_files SET {assignments} WHERE id = ?", [*values, file_id])

    # file_records: SQLite forms of the scan's two hot statements -------------------------
    def file_signatures(self, root: str) -> dict[str, tuple[int, int]]:
        with self._lock:
            try:
                cursor = self._db.execute(
                    "SELECT rel_path, size, mtime_ns FROM file_records WHERE root = ?", (root,))
                cursor.row_factory = None  # plain tuples: a third of the memory of Rows
                return {rel: (size, mtime) for rel, size, mtime in cursor}
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {self.path or ':memory:'}: {exc}") from None

    def touch_file_records(self, root: str, rel_paths: Sequence[str], generation: int) -> None:
        if not rel_paths:
            return
        # one statement per batch (the paths as one JSON array): a third faster than
        # executemany
        self._execute(
            "UPDATE file_records SET scan_generation = ? WHERE root = ? AND rel_path IN"
            " (SELECT value FROM json_each(?))",
            (generation, root, json.dumps(list(rel_paths))))
