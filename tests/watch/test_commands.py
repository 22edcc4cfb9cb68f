"""The commands, through typer's runner (and a real process for signal handling)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediasync.cli.watch import app
from mediasync.errors import LedgerError
from mediasync.ledger.sqlite import SqliteLedger
from tests.watch.conftest import wait_for, write

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "library").mkdir()
    return write(tmp_path / "mediasync.toml",
                 '[source]\nkind = "folder"\npath = "library"\n'
                 '[ledger]\nurl = "sqlite:///ledger.db"\n[watch]\ndebounce_ms = 100\n')


def test_reconcile_prints_counts_and_records_the_pass(config: Path, root: Path) -> None:
    write(root / "a.jpg", b"a")
    write(root / "sub/b.jpg", b"b")
    result = runner.invoke(app, ["reconcile", str(root), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert (stats["scanned"], stats["added"], stats["removed"]) == (2, 2, 0)
    (root / "a.jpg").unlink()
    result = runner.invoke(app, ["reconcile", str(root), "-c", str(config)])
    assert result.exit_code == 0 and "reconciliation" in result.output
    ledger = SqliteLedger(config.parent / "ledger.db")
    assert ledger.recent_operations(1)[0].files_removed == 1
    ledger.close()


def test_reconcile_of_a_missing_folder_is_a_one_line_error(config: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["reconcile", str(tmp_path / "nope"), "-c", str(config)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: not a folder: {tmp_path / 'nope'}"


def test_doctor_exits_0_when_all_agrees_and_1_when_something_needs_action(
        config: Path) -> None:
    clean = runner.invoke(app, ["doctor", "-c", str(config)])
    assert clean.exit_code == 0, clean.output
    assert "everything agrees" in clean.output
    write(config.parent / "nas_archive/stray.jpg", b"x")
    drift = runner.invoke(app, ["doctor", "-c", str(config), "--json"])
    assert drift.exit_code == 1
    report = json.loads(drift.stdout)
    assert report["needs_action"] is True
    # a file in an archive the ledger has no identity for: the next run halts there too
    identity, finding = report["findings"]
    assert (identity["code"], identity["needs_action"]) == ("archive_identity", True)
    assert "mediasync nas init" in identity["summary"]
    assert (finding["code"], finding["place"], finding["count"]) == ("unrecorded",
                                                                     "nas_archive", 1)
    table = runner.invoke(app, ["doctor", "-c", str(config)])
    assert table.exit_code == 1 and "unrecorded" in table.output


def test_doctor_compares_the_source_unless_told_not_to(config: Path) -> None:
    write(config.parent / "library/2024/IMG_1.JPG", b"new at the source")
    result = runner.invoke(app, ["doctor", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output  # waiting for a run is not a problem
    report = json.loads(result.stdout)
    assert report["places"]["source"] == 1
    [finding] = report["findings"]
    assert (finding["code"], finding["examples"], finding["fix"]) == (
        "not_imported", ["2024/IMG_1.JPG"], "mediasync run")
    result = runner.invoke(app, ["doctor", "-c", str(config), "--json", "--no-source"])
    assert "source" not in json.loads(result.stdout)["places"]


def test_doctor_goes_on_without_a_source_it_cannot_list(config: Path) -> None:
    (config.parent / "library").rmdir()
    result = runner.invoke(app, ["doctor", "-c", str(config)])
    assert result.exit_code == 0
    assert "source not checked: source folder" in result.output


def test_doctor_never_creates_a_ledger_when_only_looking(config: Path) -> None:
    assert runner.invoke(app, ["doctor", "-c", str(config)]).exit_code == 0
    assert not (config.parent / "ledger.db").exists()


def test_doctor_refuses_an_unknown_fix(config: Path) -> None:
    result = runner.invoke(app, ["doctor", "-c", str(config), "--fix", "everything"])
    assert result.exit_code == 2 and "no automatic fix for 'everything'" in result.output


def recorded(config: Path, root: Path) -> set[str]:
    if not (config.parent / "ledger.db").exists():
        return set()
    try:  # the watcher may be creating the schema right now
        ledger = SqliteLedger(config.parent / "ledger.db", read_only=True)
    except LedgerError:
        return set()
    try:
        return set(ledger.file_records(str(root.resolve())))
    except LedgerError:
        return set()
    finally:
        ledger.close()


def test_watch_runs_until_sigterm_and_stops_cleanly(config: Path, root: Path) -> None:
    write(root / "before.jpg", b"before")
    code = "from mediasync.cli.watch import app; app()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "watch", str(root), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"})
    try:
        wait_for(lambda: recorded(config, root) == {"before.jpg"}, timeout=60)
        write(root / "during.jpg", b"during")
        wait_for(lambda: recorded(config, root) == {"before.jpg", "during.jpg"}, timeout=60)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "watching" in output and output.rstrip().endswith("stopped")
