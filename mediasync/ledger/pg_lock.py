"""The run lock of a Postgres ledger: a session-level advisory lock held on a connection of
the run's own. Postgres drops it when that session ends, however the run ends."""

from __future__ import annotations

from typing import Any

import psycopg

from mediasync.ledger.pg import RUN_LOCK_KEY, connect, ledger_error
from mediasync.ledger.runlock import LockHolder

_APP_PREFIX = "mediasync run "


class PostgresRunLock:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._url = url
        self._timeout = timeout
        self._conn: psycopg.Connection[Any] | None = None

    def try_acquire(self, holder: LockHolder) -> bool:
        conn = connect(self._url, self._timeout)
        conn.autocommit = True
        try:
            # application_name tells a refused run who holds the lock (at most 63 bytes)
            conn.execute("SELECT set_config('application_name', %s, false)",
                         (f"{_APP_PREFIX}{holder.run_id}"[:63],))
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK_KEY,)).fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise ledger_error(exc, self._url) from None
        if not (row and row[0]):
            conn.close()
            return False
        self._conn = conn
        return True

    def holder(self) -> LockHolder | None:
        try:
            with connect(self._url, self._timeout) as conn:
                row = conn.execute(
                    "SELECT a.application_name, a.pid, a.client_addr::text,"
                    " a.backend_start FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                    " WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted"
                    " AND l.database = (SELECT oid FROM pg_database"
                    "                   WHERE datname = current_database())",
                    (RUN_LOCK_KEY,)).fetchone()
        except psycopg.Error:
            return None
        if row is None:
            return None
        name, pid, host, since = row
        run_id = name[len(_APP_PREFIX):] if name.startswith(_APP_PREFIX) else name
        return LockHolder(run_id=run_id, since=since.isoformat(timespec="seconds"), pid=pid,
                          host=host or "local")

    def release(self) -> None:
        if self._conn is None:
            return
        self._conn.close()  # ending the session releases the advisory lock
        self._conn = None
