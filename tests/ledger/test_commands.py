"""`mediasync ledger migrate` and `mediasync ledger info` on each kind of ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediasync.cli.ledger import app
from mediasync.ledger.postgres import PostgresLedger
from mediasync.model import MediaFile, Stage
from tests.fakes.postgrest_server import PostgrestServer
from tests.ledger.conftest import SERVICE_KEY, empty_tables

runner = CliRunner()
VERSION = "20261206041500"


def test_migrate_then_info_on_postgres(empty_pg_url: str, tmp_path: Path) -> None:
    before = runner.invoke(app, ["info", "--url", empty_pg_url])
    assert before.exit_code == 0, before.output
    assert "schema: none" in before.output

    first = runner.invoke(app, ["migrate", "--url", empty_pg_url])
    assert first.exit_code == 0, first.output
    assert f"applied 20261121170000, {VERSION}" in first.output
    again = runner.invoke(app, ["migrate", "--url", empty_pg_url])
    assert again.exit_code == 0 and "is up to date" in again.output

    ledger = PostgresLedger(empty_pg_url)
    ledger.add_files([MediaFile(source="folder", source_id="a.jpg", filename="a.jpg")], None)
    ledger.close()
    shown = runner.invoke(app, ["info", "--url", empty_pg_url])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "backend: postgres" in lines
    assert f"schema: {VERSION} (up to date)" in lines
    assert "media_files: 1" in lines and "stage_events: 1" in lines
    assert "file_records: 0" in lines


def test_info_reads_the_configured_sqlite_ledger(tmp_path: Path) -> None:
    config = tmp_path / "mediasync.toml"
    config.write_text('[ledger]\nurl = "sqlite:///state/ledger.db"\n')
    made = runner.invoke(app, ["migrate", "--config", str(config)])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "state" / "ledger.db").exists()
    shown = runner.invoke(app, ["info", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "backend: sqlite" in shown.output and "media_files: 0" in shown.output
    assert f"schema: {VERSION} (up to date)" in shown.output


def test_migrate_refuses_the_rest_api_and_says_what_to_do() -> None:
    result = runner.invoke(app, ["migrate", "--url", "supabase"])
    assert result.exit_code == 1
    assert "connection string with --url postgresql://" in result.output


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    result = runner.invoke(app, ["info", "--url", "postgres://u:pw-9876@127.0.0.1:9/x"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "pw-9876" not in result.output
    assert result.output.startswith("error: ledger postgres://u:***@127.0.0.1:9/x:")


def test_release_gives_back_what_a_dead_run_holds(empty_pg_url: str) -> None:
    ledger = PostgresLedger(empty_pg_url)
    ledger.add_files([MediaFile(source="folder", source_id=f"{n}.jpg", filename=f"{n}.jpg")
                      for n in range(3)], None)
    ledger.claim([Stage.DOWNLOADED], 2, owner="dead-run")
    result = runner.invoke(app, ["release", "dead-run", "--url", empty_pg_url])
    assert result.exit_code == 0, result.output
    assert "released 2 files held by dead-run" in result.output
    assert len(ledger.claim([Stage.DOWNLOADED], 3, owner="next-run")) == 3
    ledger.close()


def test_info_over_the_supabase_api(postgrest: PostgrestServer, pg_url: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    empty_tables(pg_url)
    monkeypatch.setenv("SUPABASE_URL", postgrest.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    shown = runner.invoke(app, ["info", "--url", "supabase"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "backend: supabase" in lines and f"schema: {VERSION} (up to date)" in lines
    assert "media_files: 0" in lines
    assert SERVICE_KEY not in shown.output
