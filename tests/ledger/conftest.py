"""The three ledger backends on real storage.

Postgres: the server at MEDIASYNC_TEST_POSTGRES_URL (default the local one at 5432), or a
throwaway cluster when none answers; the session creates its own database, migrates it
with the code users run, and drops it at the end. Supabase: the real supabase-py client
against a local PostgREST-speaking server that executes on that same database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from mediasync.ledger.base import TABLES, Ledger
from mediasync.ledger.migrate import migrate_url
from tests.fakes.postgrest_server import PostgrestServer
from tests.ledger.pgcluster import new_database, postgres_server

DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVICE_KEY = "service-role-test-key"
BACKENDS = ("sqlite", "postgres", "supabase")

LedgerFactory = Callable[..., Ledger]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with postgres_server(os.environ.get("MEDIASYNC_TEST_POSTGRES_URL", DEFAULT_TEST_URL)) as url:
        yield url


@pytest.fixture(scope="session")
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A database of this session's own, migrated."""
    with new_database(pg_server_url) as url:
        migrate_url(url)
        yield url


@pytest.fixture
def empty_pg_url(pg_server_url: str) -> Iterator[str]:
    """A database of this test's own, not migrated."""
    with new_database(pg_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def postgrest(pg_url: str) -> Iterator[PostgrestServer]:
    server = PostgrestServer(pg_url, SERVICE_KEY)
    server.start()
    yield server
    server.stop()


def empty_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_ledger(backend: str, tmp_path: Path,
                request: pytest.FixtureRequest) -> Iterator[LedgerFactory]:
    """Opens ledgers of the backend under test on one empty store."""
    opened: list[Ledger] = []
    if backend != "sqlite":
        empty_tables(request.getfixturevalue("pg_url"))

    def make(read_only: bool = False) -> Ledger:
        ledger: Ledger
        if backend == "sqlite":
            from mediasync.ledger.sqlite import SqliteLedger

            ledger = SqliteLedger(tmp_path / "ledger.db", read_only)
        elif backend == "postgres":
            from mediasync.ledger.postgres import PostgresLedger

            ledger = PostgresLedger(request.getfixturevalue("pg_url"), read_only)
        else:
            from mediasync.ledger.supabase import SupabaseLedger

            server: PostgrestServer = request.getfixturevalue("postgrest")
            ledger = SupabaseLedger(server.url, SecretStr(SERVICE_KEY), read_only)
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(make_ledger: LedgerFactory) -> Ledger:
    return make_ledger()
