"""Open the ledger a URL names."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from mediasync.errors import ConfigError
from mediasync.ledger.base import Ledger
from mediasync.ledger.pg import POSTGRES_SCHEMES

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

        rest = url[len(SQLITE_PREFIX):]
        if rest == ":memory:":
            return SqliteLedger(None)
        path = Path(rest)
        return SqliteLedger(path if path.is_absolute() else base_dir / path, read_only)
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


def supabase_credentials() -> tuple[str, SecretStr]:
    api_url = os.environ.get("SUPABASE_URL", "").strip()
    key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY", "").strip()
    missing = [name for name, value in (("SUPABASE_URL", api_url),
                                        ("SUPABASE_SERVICE_ROLE_KEY", key)) if not value]
    if missing:
        raise ConfigError(f"ledger.url = 'supabase' needs {' and '.join(missing)} "
                          "in the environment")
    return api_url, SecretStr(key)
