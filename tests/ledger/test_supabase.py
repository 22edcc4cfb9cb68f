"""The Supabase REST ledger's own edges: credentials, errors as one line, no key leaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from mediasync.errors import ConfigError, LedgerError
from mediasync.ledger import open_ledger
from mediasync.ledger.supabase import SupabaseLedger
from mediasync.model import MediaFile, Stage, StageChange
from tests.fakes.postgrest_server import PostgrestServer
from tests.ledger.conftest import SERVICE_KEY, empty_tables


def test_supabase_url_reads_the_environment(postgrest: PostgrestServer, pg_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    empty_tables(pg_url)
    monkeypatch.setenv("SUPABASE_URL", postgrest.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    ledger = open_ledger("supabase", Path("."))
    assert ledger.backend == "supabase"
    assert ledger.counts_by_stage() == {}
    ledger.migrate()  # the tables exist: nothing to do
    ledger.close()


def test_supabase_without_credentials_says_which_are_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "k")
    with pytest.raises(ConfigError, match="needs SUPABASE_URL in the environment"):
        open_ledger("supabase", Path("."))


def test_a_rejected_key_is_one_line_without_the_key(postgrest: PostgrestServer) -> None:
    wrong = "wrong-service-key-123"
    ledger = SupabaseLedger(postgrest.url, SecretStr(wrong))
    with pytest.raises(LedgerError) as failure:
        ledger.get(1)
    message = str(failure.value)
    assert message == f"ledger supabase {postgrest.url}: PGRST301: Invalid API key"
    assert wrong not in message
    ledger.close()


def test_postgrest_errors_become_ledger_errors(postgrest: PostgrestServer, pg_url: str) -> None:
    empty_tables(pg_url)
    ledger = SupabaseLedger(postgrest.url, SecretStr(SERVICE_KEY))
    with pytest.raises(LedgerError, match=r"23503: .*foreign key"):
        ledger.upsert_file_records([])  # nothing to send: no request, no error
        ledger._insert("stage_events", [{"file_id": 424242, "to_stage": "downloaded",
                                         "at": "2026-01-01T00:00:00+00:00"}])
    ledger.close()


def test_an_unreachable_api_is_one_line(tmp_path: Path) -> None:
    ledger = SupabaseLedger("http://127.0.0.1:9", SecretStr(SERVICE_KEY), timeout=2)
    with pytest.raises(LedgerError) as failure:
        ledger.update(1, attempts=2)
    assert str(failure.value).startswith("ledger supabase http://127.0.0.1:9: unreachable")
    assert failure.value.retryable
    ledger.close()


def test_postgrest_without_its_database_is_a_retryable_one_liner() -> None:
    server = PostgrestServer("postgresql://postgres@127.0.0.1:9/nothing", SERVICE_KEY,
                             db_timeout=0.5)
    server.start()
    ledger = SupabaseLedger(server.url, SecretStr(SERVICE_KEY))
    try:
        with pytest.raises(LedgerError) as failure:
            ledger.update(1, attempts=2)
    finally:
        ledger.close()
        server.stop()
    assert str(failure.value).startswith(f"ledger supabase {server.url}: PGRST000: Could not")
    assert failure.value.retryable


def test_writes_go_in_batches_of_at_most_500_rows(postgrest: PostgrestServer,
                                                   pg_url: str) -> None:
    empty_tables(pg_url)
    ledger = SupabaseLedger(postgrest.url, SecretStr(SERVICE_KEY))
    postgrest.requests.clear()
    files = ledger.add_files([MediaFile(source="bucket", source_id=f"k{n}", filename=f"{n}.jpg")
                              for n in range(1100)], run_id="r")
    ledger.apply([StageChange(f.id, Stage.SKIPPED) for f in files], run_id="r")  # type: ignore[arg-type]
    ledger.close()
    posts = [(r.table, r.rows) for r in postgrest.requests if r.method == "POST"]
    assert posts == [("media_files", 500), ("media_files", 500), ("media_files", 100),
                     ("stage_events", 500), ("stage_events", 500), ("stage_events", 100)] * 2
