"""The SQLite ledger's own edge: files made by an earlier schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mediasync.errors import LedgerError
from mediasync.ledger.sqlite import SqliteLedger
from mediasync.model import Stage, StageChange


def test_a_sqlite_ledger_from_before_claims_is_upgraded_on_open(tmp_path: Path) -> None:
    """A ledger file made by the first SQLite schema (no claims, no schema_migrations)."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_SQLITE_SCHEMA)
        db.execute("INSERT INTO media_files (source, source_id, filename, workflow_stage,"
                   " created_at, updated_at) VALUES ('folder', 'a.jpg', 'a.jpg', 'downloaded',"
                   " '2026-11-21T00:00:00+00:00', '2026-11-21T00:00:00+00:00')")
    db.close()
    reader = SqliteLedger(path, read_only=True)
    assert reader.schema_version() is None and reader.counts_by_stage() == {"downloaded": 1}
    reader.close()
    ledger = SqliteLedger(path)
    [claimed] = ledger.claim([Stage.DOWNLOADED], 5, owner="run")
    ledger.apply([StageChange(claimed.id, Stage.NAS_ARCHIVED)], run_id="run")  # type: ignore[arg-type]
    assert ledger.counts_by_stage() == {"nas_archived": 1}
    assert ledger.schema_version() == "20261206041500"
    ledger.close()


@pytest.mark.parametrize("read_only", [True, False])
def test_a_file_that_is_no_database_is_a_one_line_ledger_error(tmp_path: Path,
                                                               read_only: bool) -> None:
    path = tmp_path / "mediasync.db"
    path.write_bytes(b"these are not the pages of an SQLite database" * 100)
    with pytest.raises(LedgerError) as caught:
        SqliteLedger(path, read_only=read_only)
    assert str(caught.value) == f"cannot open ledger {path}: file is not a database"
    assert path.read_bytes().startswith(b"these are not the pages")


def test_a_ledger_file_without_tables_yet_reads_as_empty_when_read_only(tmp_path: Path) -> None:
    """What `status` sees while another process is creating the ledger."""
    path = tmp_path / "mediasync.db"
    path.touch()
    reader = SqliteLedger(path, read_only=True)
    assert reader.counts_by_stage() == {}
    reader.close()
    assert path.stat().st_size == 0


def test_a_ledger_path_below_a_file_is_a_ledger_error(tmp_path: Path) -> None:
    (tmp_path / "afile").touch()
    with pytest.raises(LedgerError, match="cannot open ledger .*afile/mediasync.db"):
        SqliteLedger(tmp_path / "afile" / "mediasync.db")


FIRST_SQLITE_SCHEMA = """
CREATE TABLE media_files (id INTEGER PRIMARY KEY, source TEXT NOT NULL,
    source_id TEXT NOT NULL, filename TEXT NOT NULL, workflow_stage TEXT NOT NULL,
    size INTEGER, content_hash TEXT, captured_at TEXT,
    media_type TEXT NOT NULL DEFAULT 'other', favorite INTEGER NOT NULL DEFAULT 0,
    group_id TEXT, local_path TEXT, pixel_path TEXT, nas_path TEXT, nas_hash TEXT,
    compressed_path TEXT, pixel_synced INTEGER NOT NULL DEFAULT 0, pixel_version TEXT,
    nas_archived INTEGER NOT NULL DEFAULT 0, compressed INTEGER NOT NULL DEFAULT 0,
    icloud_delete_ready INTEGER NOT NULL DEFAULT 0, compression_metadata TEXT,
    media_metadata TEXT, source_meta TEXT, failed_stage TEXT, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, source_deleted_at TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, UNIQUE (source, source_id));
CREATE TABLE stage_events (id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    from_stage TEXT, to_stage TEXT NOT NULL, run_id TEXT, at TEXT NOT NULL, detail TEXT);
"""
