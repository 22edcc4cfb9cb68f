"""Open the ledger a URL names, and find its run lock."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from mediasync.errors import ConfigError
from mediasync.ledger.base import Ledger
from mediasync.ledger.pg import POSTGRES_SCHEMES
from mediasync.ledger.runlock import FileRunLock, RunLock

SQLITE_PREFIX = "sqlite:///"
SUPABASE = "supabase"
DEFAULT_TIMEOUT = 10.0


def open_ledger(url: str, base_dir: Path, read_only: bool = False,
                timeout: float = DEFAULT_TIMEOUT) -> Ledger:
    """`sqlite:///relative.db` (relative to the config's folder), `sqlite:////abs.db`,
    `sqlite:///:memory:`; `postgresql://...` or `postgres://...` (any Postgres, a Supabase
    project's connection string too); `supabase` (the REST API, with SUPABASE_URL and
    SUPABASE_SERVICE_ROLE_KEY from the environment). `timeout` bounds each connection
    or request to a server."""
    if url.startswith(SQLITE_PREFIX):
        from mediasync.ledger.sqlite import SqliteLedger

        path = _sqlite_path(url, base_dir)
        # in memory, the ledger is this process's own: read-only would leave it empty
        return SqliteLedger(path, read_only=read_only and path is not None)
    if url.startswith(POSTGRES_SCHEMES):
        from mediasync.ledger.postgres import PostgresLedger

        return PostgresLedger(url, read_only, timeout)
    if url == SUPABASE:
        from mediasync.ledger.supabase import SupabaseLedger

        api_url, key = supabase_credentials()
        return SupabaseLedger(api_url, key, read_only, timeout)
    scheme = url.split(":", 1)[0] or url
    raise ConfigError(f"ledger.url: unsupported ledger '{scheme}' "
                      "(use sqlite:///PATH, postgresql://... or supabase)")


def run_lock_for(url: str, base_dir: Path) -> RunLock | None:
    """SQLite: a flock beside the database. Postgres: an advisory lock on the ledger's
    database. None for an in-memory ledger, which no other run can share, and for the
    Supabase REST ledger, which has no session to hold a lock on (its users run one
    runner, see docs/ledger.md; claims still keep two runs from archiving one file twice)."""
    if url.startswith(SQLITE_PREFIX):
        database = _sqlite_path(url, base_dir)
        if database is None:
            return None
        database.parent.mkdir(parents=True, exist_ok=True)
        return FileRunLock(database.with_name(database.name + ".lock"))
    if url.startswith(POSTGRES_SCHEMES):
        from mediasync.ledger.pg_lock import PostgresRunLock

        return PostgresRunLock(url)
    if url == SUPABASE:
        return None
    scheme = url.split(":", 1)[0] or url
    raise ConfigError(f"ledger.url: no run lock for '{scheme}' ledgers")


def _sqlite_path(url: str, base_dir: Path) -> Path | None:
    """The database file of a sqlite:/// URL (relative to `base_dir`); None: in memory."""
    rest = url[len(SQLITE_PREFIX):]
    if rest == ":memory:":
        return None
    path = Path(rest)
    return path if path.is_absolute() else base_dir / path


def supabase_credentials() -> tuple[str, SecretStr]:
    api_url = os.environ.get("SUPABASE_URL", "").strip()
    key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY", "").strip()
    missing = [name for name, value in (("SUPABASE_URL", api_url),
                                        ("SUPABASE_SERVICE_ROLE_KEY", key)) if not value]
    if missing:
        raise ConfigError(f"ledger.url = 'supabase' needs {' and '.join(missing)} "
                          "in the environment")
    return api_url, SecretStr(key)
