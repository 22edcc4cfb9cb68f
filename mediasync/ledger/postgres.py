"""The Postgres ledger: any Postgres (a Supabase project's connection string too), pooled
connections, every batch one transaction of pipelined statements and COPY."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from mediasync.errors import LedgerError
from mediasync.ledger.base import DEFAULT_LEASE_SECONDS, TABLES, DeletionProof, FileRecord
from mediasync.ledger.changes import (
    EVENT_COLUMNS,
    PlannedChange,
    plan_changes,
    prepare_new,
    same_column_runs,
)
from mediasync.ledger.columns import (
    JSON_COLUMNS,
    MEDIA_COLUMNS,
    check_columns,
    decode_deletion,
    decode_event,
    decode_file_record,
    decode_operation,
    decode_row,
    utcnow,
)
from mediasync.ledger.migrate import apply_migrations
from mediasync.ledger.pg import connect, ledger_error
from mediasync.model import MediaFile, Stage, StageChange, StageEvent, SyncOperation

_INSERT_COLUMNS = tuple(c for c in MEDIA_COLUMNS if c != "id")
_dumps = partial(json.dumps, sort_keys=True, default=str)


def encode(column: str, value: Any) -> Any:
    """A value as a Postgres column takes it (JSON columns as jsonb)."""
    if column in JSON_COLUMNS and value is not None:
        return Jsonb(value, dumps=_dumps)
    return value


class PostgresLedger:
    backend = "postgres"

    def __init__(self, url: str, read_only: bool = False, timeout: float = 10.0) -> None:
        """Applies missing migrations, as the SQLite ledger creates its schema.
        `read_only` opens sessions in which Postgres itself refuses every write (dry
        runs). `timeout` bounds connecting and waiting for a pooled connection."""
        self.url = url
        self.read_only = read_only
        connect(url, timeout).close()  # fail now, with the server's own reason
        kwargs: dict[str, Any] = {"row_factory": dict_row,
                                  "connect_timeout": max(1, round(timeout))}
        if read_only:
            kwargs["options"] = "-c default_transaction_read_only=on"
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=4, kwargs=kwargs, timeout=timeout, open=False,
            name="mediasync-ledger")
        self._pool.open()
        self.migrate()

    def migrate(self) -> None:
        if self.read_only:
            return
        with self._transaction() as conn:
            apply_migrations(conn)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a pooled connection: committed when the block ends,
        rolled back when it raises."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise ledger_error(exc, self.url) from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._transaction() as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def schema_version(self) -> str | None:
        rows = self._query("SELECT to_regclass('schema_migrations') IS NOT NULL AS ok")
        if not rows[0]["ok"]:
            return None
        return self._query("SELECT max(version) AS v FROM schema_migrations")[0]["v"]

    def table_counts(self) -> dict[str, int]:
        sql = " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM {t}" for t in TABLES)
        return {row["t"]: row["n"] for row in self._query(sql)}

    # media_files ------------------------------------------------------------------------
    def known_source_ids(self, source: str) -> set[str]:
        rows = self._query("SELECT source_id FROM media_files WHERE source = %s", (source,))
        return {row["source_id"] for row in rows}

    def get(self, file_id: int) -> MediaFile | None:
        rows = self._query("SELECT * FROM media_files WHERE id = %s", (file_id,))
        return decode_row(rows[0]) if rows else None

    def find(self, source: str, source_id: str) -> MediaFile | None:
        rows = self._query("SELECT * FROM media_files WHERE source = %s AND source_id = %s",
                           (source, source_id))
        return decode_row(rows[0]) if rows else None

    def add_files(self, files: Sequence[MediaFile], run_id: str | None) -> list[MediaFile]:
        now = utcnow()
        prepare_new(files, now)
        sql = (f"INSERT INTO media_files ({', '.join(_INSERT_COLUMNS)}) VALUES "
               f"({', '.join('%s' for _ in _INSERT_COLUMNS)})"
               " ON CONFLICT (source, source_id) DO NOTHING RETURNING id")
        added: list[MediaFile] = []
        if not files:
            return added
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(sql, [[encode(c, getattr(m, c)) for c in _INSERT_COLUMNS]
                                  for m in files], returning=True)
            for media, _ in zip(files, cur.results(), strict=True):
                row = cur.fetchone()
                if row is not None:
                    media.id = row["id"]
                    added.append(media)
            _copy_events(cur, [(m.id, None, m.workflow_stage.value, run_id, now, m.error)
                               for m in added])
        return added

    def files_at(self, stages: Iterable[Stage], limit: int | None = None,
                 source: str | None = None) -> list[MediaFile]:
        sql = "SELECT * FROM media_files WHERE workflow_stage = ANY(%s)"
        params: list[Any] = [[Stage(s).value for s in stages]]
        if source is not None:
            sql += " AND source = %s"
            params.append(source)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return [decode_row(r) for r in self._query(sql, params)]

    def files_where(self, **equals: Any) -> list[MediaFile]:
        check_columns(equals)
        clauses = " AND ".join(
            f"{c} IS NULL" if v is None else f"{c} = %s" for c, v in equals.items())
        params = [encode(c, v) for c, v in equals.items() if v is not None]
        sql = "SELECT * FROM media_files" + (f" WHERE {clauses}" if clauses else "")
        return [decode_row(r) for r in self._query(sql + " ORDER BY id", params)]

    def apply(self, changes: Sequence[StageChange], run_id: str | None) -> None:
        if not changes:
            return
        now = utcnow()
        with self._transaction() as conn, conn.cursor() as cur:
            # rows locked in id order: concurrent batches wait for each other, never deadlock
            cur.execute("SELECT id, workflow_stage FROM media_files WHERE id = ANY(%s)"
                        " ORDER BY id FOR UPDATE", ([c.file_id for c in changes],))
            current = {row["id"]: Stage(row["workflow_stage"]) for row in cur.fetchall()}
            planned = plan_changes(changes, current)
            for run in same_column_runs(planned):
                _update_run(cur, run)
            _copy_events(cur, [plan.event(run_id, now) for plan in planned])

    def claim(self, stages: Iterable[Stage], limit: int, owner: str,
              lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[MediaFile]:
        now = utcnow()
        # SKIP LOCKED: a concurrent claimer passes over the rows another is taking; the
        # UPDATE re-checks the claim on rows committed meanwhile.
        rows = self._query(
            "UPDATE media_files SET claimed_by = %(owner)s, claimed_at = %(now)s"
            " WHERE id IN (SELECT id FROM media_files WHERE workflow_stage = ANY(%(stages)s)"
            " AND (claimed_by IS NULL OR claimed_at < %(lapsed)s)"
            " ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING *",
            {"owner": owner, "now": now, "stages": [Stage(s).value for s in stages],
             "lapsed": now - timedelta(seconds=lease_seconds), "limit": limit})  # type: ignore[arg-type]
        return sorted((decode_row(r) for r in rows), key=lambda m: m.id or 0)

    def release(self, owner: str) -> int:
        with self._transaction() as conn:
            cur = conn.execute("UPDATE media_files SET claimed_by = NULL, claimed_at = NULL"
                               " WHERE claimed_by = %s", (owner,))
            return cur.rowcount

    def update(self, file_id: int, run_id: str | None = None, **columns: Any) -> None:
        if "workflow_stage" in columns:
            raise LedgerError("stage changes go through apply()")
        check_columns(columns)
        if not columns:
            return
        assignments = ", ".join(f"{c} = %s" for c in columns)
        with self._transaction() as conn:
            conn.execute(f"UPDATE media_files SET {assignments} WHERE id = %s",
                         [*(encode(c, v) for c, v in columns.items()), file_id])

    def counts_by_stage(self) -> dict[str, int]:
        rows = self._query("SELECT workflow_stage AS s, count(*) AS n FROM media_files"
                           " GROUP BY 1")
        return {row["s"]: row["n"] for row in rows}

    def events(self, file_id: int) -> list[StageEvent]:
        rows = self._query("SELECT * FROM stage_events WHERE file_id = %s ORDER BY id",
                           (file_id,))
        return [decode_event(r) for r in rows]

    def record_deletions(self, proofs: Sequence[DeletionProof]) -> None:
        if not proofs:
            return
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO source_deletions (file_id, source_id, nas_path, nas_hash,"
                " pixel_version, run_id, deleted_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(p.file_id, p.source_id, p.nas_path, p.nas_hash, p.pixel_version, p.run_id,
                  p.deleted_at) for p in proofs])
            cur.executemany("UPDATE media_files SET source_deleted_at = %s WHERE id = %s",
                            [(p.deleted_at, p.file_id) for p in proofs])

    def deletions(self, file_id: int) -> list[DeletionProof]:
        rows = self._query("SELECT * FROM source_deletions WHERE file_id = %s ORDER BY id",
                           (file_id,))
        return [decode_deletion(r) for r in rows]

    # sync_operations ------------------------------------------------------------------------
    def start_operation(self, op: SyncOperation) -> int:
        op.started_at = op.started_at or utcnow()
        rows = self._query(
            "INSERT INTO sync_operations (operation_type, status, run_id, started_at)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (op.operation_type, op.status, op.run_id, op.started_at))
        op.id = rows[0]["id"]
        return op.id

    def finish_operation(self, op: SyncOperation) -> None:
        if op.id is None:
            raise LedgerError("finish_operation needs an operation from start_operation")
        op.finished_at = op.finished_at or utcnow()
        with self._transaction() as conn:
            conn.execute(
                "UPDATE sync_operations SET status = %s, finished_at = %s, files_scanned = %s,"
                " files_added = %s, files_updated = %s, files_removed = %s, files_failed = %s,"
                " error = %s, detail = %s WHERE id = %s",
                (op.status, op.finished_at, op.files_scanned, op.files_added, op.files_updated,
                 op.files_removed, op.files_failed, op.error,
                 Jsonb(op.detail, dumps=_dumps) if op.detail is not None else None, op.id))

    def recent_operations(self, limit: int = 10,
                          operation_type: str | None = None) -> list[SyncOperation]:
        sql, params = "SELECT * FROM sync_operations", []
        if operation_type:
            sql += " WHERE operation_type = %s"
            params.append(operation_type)
        rows = self._query(sql + " ORDER BY id DESC LIMIT %s", [*params, limit])
        return [decode_operation(r) for r in rows]

    # file_records ------------------------------------------------------------------------
    def file_records(self, root: str) -> dict[str, FileRecord]:
        rows = self._query("SELECT * FROM file_records WHERE root = %s", (root,))
        return {r["rel_path"]: decode_file_record(r) for r in rows}

    def upsert_file_records(self, records: Sequence[FileRecord]) -> None:
        if not records:
            return
        now = utcnow()
        with self._transaction() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO file_records (root, rel_path, size, mtime_ns, content_hash,"
                " scan_generation, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (root, rel_path) DO UPDATE SET size = excluded.size,"
                " mtime_ns = excluded.mtime_ns, content_hash = excluded.content_hash,"
                " scan_generation = excluded.scan_generation, updated_at = excluded.updated_at",
                [(r.root, r.rel_path, r.size, r.mtime_ns, r.content_hash, r.scan_generation,
                  now) for r in records])

    def delete_file_records(self, root: str, rel_paths: Sequence[str]) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM file_records WHERE root = %s AND rel_path = ANY(%s)",
                         (root, list(rel_paths)))

    def delete_stale_file_records(self, root: str, generation: int) -> int:
        with self._transaction() as conn:
            cur = conn.execute(
                "DELETE FROM file_records WHERE root = %s AND scan_generation <> %s",
                (root, generation))
            return cur.rowcount


def _update_run(cur: psycopg.Cursor[Any], run: list[PlannedChange]) -> None:
    """One prepared UPDATE for changes that set the same columns; the claim ends."""
    columns = list(run[0].columns)
    assignments = ", ".join(f"{c} = %s" for c in columns)
    cur.executemany(
        f"UPDATE media_files SET {assignments}, claimed_by = NULL, claimed_at = NULL"
        " WHERE id = %s",
        [[*(encode(c, plan.columns[c]) for c in columns), plan.file_id] for plan in run])


def _copy_events(cur: psycopg.Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with cur.copy(f"COPY stage_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
