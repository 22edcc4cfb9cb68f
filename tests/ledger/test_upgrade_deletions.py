"""Ledgers made before deletes had states are upgraded in place: their proof rows were
written after a confirmed delete, and read so; nothing is left as an open intent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from mediasync.ledger.base import DeletionState
from mediasync.ledger.migrate import MIGRATIONS_DIR, migrate_url
from mediasync.ledger.postgres import PostgresLedger
from mediasync.ledger.sqlite import SqliteLedger
from tests.ledger.test_sqlite import FIRST_SQLITE_SCHEMA

INITIAL = "20261121170000"
FILE = ("INSERT INTO media_files (source, source_id, filename, workflow_stage, created_at,"
        " updated_at, source_deleted_at) VALUES ('folder:/photos', 'a.jpg', 'a.jpg',"
        " 'completed', '2026-11-30T00:00:00+00:00', '2026-11-30T00:00:00+00:00',"
        " '2026-12-01T00:00:00+00:00')")
PROOF = ("INSERT INTO source_deletions (file_id, source_id, nas_path, nas_hash, run_id,"
         " deleted_at) VALUES (1, 'a.jpg', '/nas/a.jpg', 'ab', 'run-0',"
         " '2026-12-01T00:00:00+00:00')")


# source_deletions as every ledger before 20261206041500 has it
OLD_DELETIONS = """
CREATE TABLE source_deletions (id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES media_files (id), source_id TEXT NOT NULL,
    nas_path TEXT NOT NULL, nas_hash TEXT NOT NULL, pixel_version TEXT, run_id TEXT,
    deleted_at TEXT NOT NULL);
"""


def test_an_sqlite_ledger_with_proofs_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_SQLITE_SCHEMA + OLD_DELETIONS)
        assert "state" not in {r[1] for r in db.execute("PRAGMA table_info(source_deletions)")}
        db.execute(FILE)
        db.execute(PROOF)
    db.close()
    ledger = SqliteLedger(path)
    try:
        [proof] = ledger.deletions(1)
        assert (proof.state, proof.source, proof.run_id) == (DeletionState.CONFIRMED,
                                                             "folder:/photos", "run-0")
        assert ledger.open_intents("folder:/photos") == []
        assert ledger.schema_version() == "20261206041500"
    finally:
        ledger.close()


def test_a_postgres_ledger_with_proofs_is_upgraded_by_migrate(empty_pg_url: str) -> None:
    with psycopg.connect(empty_pg_url, autocommit=True) as conn:
        conn.execute((MIGRATIONS_DIR / f"{INITIAL}_initial.sql").read_text())  # type: ignore[arg-type]
        conn.execute(FILE)
        conn.execute(PROOF)
    assert migrate_url(empty_pg_url) == ["20261206041500"]
    ledger = PostgresLedger(empty_pg_url)
    try:
        [proof] = ledger.deletions(1)
        assert (proof.state, proof.source, proof.answer) == (DeletionState.CONFIRMED,
                                                             "folder:/photos", None)
        assert ledger.open_intents("folder:/photos") == []
    finally:
        ledger.close()
    assert migrate_url(empty_pg_url) == []
