"""Apply `supabase/migrations` to a Postgres database, each migration once.

The versions applied are kept in `schema_migrations` (each migration also records itself,
so a database migrated with the Supabase CLI reads the same). Concurrent runs wait for
each other on an advisory lock; a migration and its record commit together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from mediasync.errors import ConfigError
from mediasync.ledger.pg import MIGRATION_LOCK_KEY, connect, ledger_error

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
_NAME = re.compile(r"^(\d{14})_(\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path


def available(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    if not folder.is_dir():
        raise ConfigError(f"migrations folder not found: {folder}")
    found = [(_NAME.match(p.name), p) for p in folder.iterdir() if p.suffix == ".sql"]
    return sorted((Migration(m.group(1), m.group(2), p) for m, p in found if m),
                  key=lambda migration: migration.version)


def latest_version() -> str:
    return available()[-1].version


def apply_migrations(conn: psycopg.Connection) -> list[str]:
    """Apply what is missing; returns the versions applied now."""
    applied: list[str] = []
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        done = _applied_versions(cur)
        for migration in available():
            if migration.version in done:
                continue
            cur.execute(migration.path.read_text())  # type: ignore[arg-type]
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)"
                         " ON CONFLICT (version) DO NOTHING",
                         (migration.version, migration.name))
            applied.append(migration.version)
    return applied


def _applied_versions(cur: psycopg.Cursor[tuple[Any, ...]]) -> set[str]:
    exists = cur.execute("SELECT to_regclass('schema_migrations')").fetchone()
    if exists is None or exists[0] is None:
        return set()
    return {row[0] for row in cur.execute("SELECT version FROM schema_migrations")}


def migrate_url(url: str, timeout: float = 10.0) -> list[str]:
    """`mediasync ledger migrate`: the same code the tests and the Postgres ledger use."""
    with connect(url, timeout) as conn:
        try:
            return apply_migrations(conn)
        except psycopg.Error as exc:
            raise ledger_error(exc, url) from None
