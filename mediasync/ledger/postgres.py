"""The Postgres ledger: any Postgres (a Supabase project's connection string too), pooled
connections, every batch one transaction of pipelined statements and COPY."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from mediasync.ledger.base import DEFAULT_LEASE_SECONDS
from mediasync.ledger.changes import (
    CLAIM_COLUMNS,
    EVENT_COLUMNS,
    PlannedChange,
    plan_changes,
    prepare_new,
    same_column_runs,
)
from mediasync.ledger.columns import JSON_COLUMNS, MEDIA_COLUMNS, decode_row, utcnow
from mediasync.ledger.migrate import apply_migrations
from mediasync.ledger.pg import connect, ledger_error
from mediasync.ledger.sql import Batch, Rows, SqlLedger
from mediasync.model import MediaFile, Stage, StageChange

_INSERT_COLUMNS = tuple(c for c in MEDIA_COLUMNS if c != "id")
_CLAIM_ENDS = ", ".join(f"{c} = NULL" for c in CLAIM_COLUMNS)
# the claim's holder (see _hold) has no server session any more; a session of another
# role may hide its start time, and then its pid alone keeps the claim
_SESSION_GONE = (
    "(m.claimed_session IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a"
    " WHERE a.pid = split_part(m.claimed_session, '/', 1)::int AND (a.backend_start IS NULL"
    " OR extract(epoch FROM a.backend_start)::text = split_part(m.claimed_session, '/', 2))))")
_dumps = partial(json.dumps, sort_keys=True, default=str)


def _pg(sql: str) -> str:
    """The shared statements' `?` placeholders as psycopg's."""
    return sql.replace("?", "%s")


def encode(column: str, value: Any) -> Any:
    """A value as a Postgres column takes it (JSON columns as jsonb)."""
    if column in JSON_COLUMNS and value is not None:
        return Jsonb(value, dumps=_dumps)
    return value


class PostgresLedger(SqlLedger):
    backend = "postgres"
    _META_TEXT = "source_meta ->> ?::text"

    def __init__(self, url: str, read_only: bool = False, timeout: float = 10.0) -> None:
        """Applies missing migrations, as the SQLite ledger creates its schema.
        `read_only` opens sessions in which Postgres itself refuses every write (dry
        runs). `timeout` bounds connecting and waiting for a pooled connection."""
        self.url = url
        self.read_only = read_only
        self._timeout = timeout
        self._holder, self._session = self._hold()  # fails now, with the server's reason
        kwargs: dict[str, Any] = {"row_factory": dict_row,
                                  "connect_timeout": max(1, round(timeout))}
        if read_only:
            kwargs["options"] = "-c default_transaction_read_only=on"
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url, min_size=1, max_size=4, kwargs=kwargs, timeout=timeout, open=False,
            name="mediasync-ledger")
        self._pool.open()
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def migrate(self) -> None:
        if self.read_only:
            return
        with self._transaction() as conn:
            apply_migrations(conn)

    def close(self) -> None:
        self._pool.close()
        self._holder.close()

    def _hold(self) -> tuple[psycopg.Connection[Any], str]:
        """A connection kept open for as long as this ledger is: the claims it takes name
        its server session, and a claim whose session has ended (the process was killed,
        the server restarted) is free again at once."""
        holder = connect(self.url, self._timeout)
        holder.autocommit = True
        row = holder.execute("SELECT pg_backend_pid()::text || '/' ||"
                             " extract(epoch FROM backend_start)::text FROM pg_stat_activity"
                             " WHERE pid = pg_backend_pid()").fetchone()
        return holder, row[0]  # type: ignore[index]

    def _live_session(self) -> str:
        try:
            self._holder.execute("SELECT 1")
        except psycopg.Error:
            self._holder.close()
            self._holder, self._session = self._hold()
        return self._session

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a pooled connection: committed when the block ends,
        rolled back when it raises."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise ledger_error(exc, self.url) from None

    # how statements run (see SqlLedger) --------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with self._transaction() as conn:
            return conn.execute(_pg(sql), params).fetchall()  # type: ignore[return-value]

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[int, Rows]:
        with self._transaction() as conn:
            cursor = conn.execute(_pg(sql), params)
            return cursor.rowcount, cursor.fetchall() if cursor.description else []

    def _execute_many(self, batches: Sequence[Batch]) -> None:
        with self._transaction() as conn, conn.cursor() as cur:
            for sql, rows in batches:
                if rows:
                    cur.executemany(_pg(sql), rows)

    def _encode(self, column: str, value: Any) -> Any:
        return encode(column, value)

    def _time(self, value: datetime | None) -> Any:
        return value

    def _json(self, value: Any) -> Any:
        return Jsonb(value, dumps=_dumps)

    def schema_version(self) -> str | None:
        rows = self._query("SELECT to_regclass('schema_migrations') IS NOT NULL AS ok")
        if not rows[0]["ok"]:
            return None
        return self._query("SELECT max(version) AS v FROM schema_migrations")[0]["v"]

    # media_files ------------------------------------------------------------------------
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
        session = self._live_session()
        # SKIP LOCKED: a concurrent claimer passes over the rows another is taking; the
        # UPDATE re-checks the claim on rows committed meanwhile.
        rows = self._query(
            "UPDATE media_files SET claimed_by = %(owner)s, claimed_at = %(now)s,"
            " claimed_session = %(session)s WHERE id IN (SELECT m.id FROM media_files m"
            " WHERE m.workflow_stage = ANY(%(stages)s) AND (m.claimed_by IS NULL"
            " OR m.claimed_at < %(lapsed)s OR " + _SESSION_GONE + ")"
            " ORDER BY m.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING *",
            {"owner": owner, "now": now, "session": session,
             "stages": [Stage(s).value for s in stages],
             "lapsed": now - timedelta(seconds=lease_seconds), "limit": limit})  # type: ignore[arg-type]
        return sorted((decode_row(r) for r in rows), key=lambda m: m.id or 0)

def _update_run(cur: psycopg.Cursor[Any], run: list[PlannedChange]) -> None:
    """One UPDATE for changes that set the same columns, the rows' values sent as one
    JSON array that Postgres types column by column; the claim ends."""
    columns = list(run[0].columns)
    assignments = ", ".join(f"{c} = v.{c}" for c in columns)
    rows = [{"id": plan.file_id, **plan.columns} for plan in run]
    cur.execute(f"UPDATE media_files m SET {assignments}, {_CLAIM_ENDS} FROM"
                " jsonb_populate_recordset(NULL::media_files, %s) v WHERE m.id = v.id",
                [Jsonb(rows, dumps=_dumps)])


def _copy_events(cur: psycopg.Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with cur.copy(f"COPY stage_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
