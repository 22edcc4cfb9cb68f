"""`mediasync bucket sync|reconcile` through typer's runner, against the fakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediasync.cli.bucket import app
from tests.bucket.conftest import BUCKET, KEY, TABLE, payload, put, write_config
from tests.fakes.postgrest_table_server import FakePostgrest
from tests.fakes.storage_server import FakeStorage

runner = CliRunner()


def test_sync_mirrors_and_reports_a_dry_run_of_deletes(tmp_path: Path,
                                                       storage: FakeStorage) -> None:
    put(storage, "cam/old.mp4", age_days=30)
    put(storage, "cam/new.mp4")
    config = write_config(tmp_path, storage)
    result = runner.invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "would delete (use --apply)" in result.output and "cam/old.mp4" in result.output
    assert storage.keys(BUCKET) == {"cam/old.mp4", "cam/new.mp4"}
    assert (tmp_path / "registry/cam/new.mp4").read_bytes() == payload("cam/new.mp4")
    assert (tmp_path / "bucket_missing_files.txt").read_text().split() == [
        "cam/new.mp4", "cam/old.mp4"]


def test_sync_apply_json(tmp_path: Path, storage: FakeStorage) -> None:
    put(storage, "cam/old.mp4", age_days=30)
    put(storage, "cam/new.mp4")
    config = write_config(tmp_path, storage)
    result = runner.invoke(app, ["sync", "--config", str(config), "--apply", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["retention"]["applied"] and summary["retention"]["deleted"] == 1
    assert summary["retention"]["local_removed"] == 1
    assert storage.keys(BUCKET) == {"cam/new.mp4"}
    assert not (tmp_path / "registry/cam/old.mp4").exists()


def test_sync_json_with_a_failure_stays_json_and_exits_1(tmp_path: Path,
                                                         storage: FakeStorage) -> None:
    key = "cam/" + "a-rather-long-folder-name/" * 4 + "clip.mp4"
    put(storage, key)
    (tmp_path / "registry" / key).mkdir(parents=True)  # a folder where the file must go
    config = write_config(tmp_path, storage)
    result = runner.invoke(app, ["sync", "--config", str(config), "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert list(summary["failed"]) == [key] and "cannot write" in summary["failed"][key]


def test_bad_key_is_one_clear_line(tmp_path: Path, storage: FakeStorage) -> None:
    put(storage, "a.mp4")
    config = write_config(tmp_path, storage, key="wrong-key-value")
    result = runner.invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "rejected the service key" in lines[0]
    assert "wrong-key-value" not in result.output


def test_key_from_the_environment(tmp_path: Path, storage: FakeStorage,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    put(storage, "a.mp4")
    config = write_config(tmp_path, storage, key="overridden-below")
    monkeypatch.setenv("MEDIASYNC_BUCKET__SERVICE_KEY", KEY)
    result = runner.invoke(app, ["sync", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["downloaded"] == 1


def test_bad_path_pattern_is_a_config_error(tmp_path: Path, storage: FakeStorage) -> None:
    config = write_config(tmp_path, storage, extra='path_pattern = "{device}/{HH}{mm}"')
    result = runner.invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == 2
    assert "bucket.path_pattern" in result.output and "{YYYY}" in result.output


def test_missing_settings_are_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "mediasync.toml"
    config.write_text("[bucket]\nbucket = 'media'\n")
    result = runner.invoke(app, ["sync", "--config", str(config)])
    assert result.exit_code == 2
    assert "bucket.url and bucket.service_key must be set" in result.output


@pytest.fixture
def project(tmp_path: Path, storage: FakeStorage, rest: FakePostgrest) -> Path:
    storage.upstreams["/rest/v1/"] = rest.url
    for i in range(30):
        put(storage, f"parts/{i:02d}.jpg")
    put(storage, "parts/readme.txt")
    rest.tables[TABLE].add({"file_path": "parts/00.jpg"}, None)
    rest.tables[TABLE].add({"file_path": "parts/gone.jpg"}, None)
    rest.tables[TABLE].add({"file_path": "parts/readme.txt"}, None)  # not reconciled, not gone
    return write_config(tmp_path, storage, extra='reconcile_extensions = ["jpg"]')


def test_reconcile_without_apply_keeps_orphans(project: Path, rest: FakePostgrest) -> None:
    result = runner.invoke(app, ["reconcile", "--config", str(project)])
    assert result.exit_code == 0, result.output
    assert "orphaned records, kept" in result.output and "parts/gone.jpg" in result.output
    rows = {r["file_path"]: r["signed_url"] for r in rest.tables[TABLE].rows}
    assert len(rows) == 32 and rows["parts/gone.jpg"] is None
    assert all(url for key, url in rows.items() if key != "parts/gone.jpg")


def test_reconcile_apply_asks_first(project: Path, rest: FakePostgrest) -> None:
    refused = runner.invoke(app, ["reconcile", "--config", str(project), "--apply"], input="n\n")
    assert refused.exit_code == 0, refused.output
    assert "Remove these 1 records" in refused.output
    assert "parts/gone.jpg" in {r["file_path"] for r in rest.tables[TABLE].rows}
    agreed = runner.invoke(app, ["reconcile", "--config", str(project), "--apply"], input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert "parts/gone.jpg" not in {r["file_path"] for r in rest.tables[TABLE].rows}


def test_reconcile_json_stays_json_when_asking(project: Path, rest: FakePostgrest) -> None:
    result = runner.invoke(app, ["reconcile", "--config", str(project), "--apply", "--json"],
                           input="y\n")
    assert result.exit_code == 0, result.output
    # the runner echoes the typed answer into stdout, as a terminal would onto the screen
    answer, _, report = result.stdout.partition("\n")
    assert answer.strip() == "y"
    assert json.loads(report)["orphans_removed"] == 1
    assert "Remove these 1 records" in result.stderr


def test_reconcile_apply_with_no_one_to_answer_keeps_orphans(project: Path,
                                                             rest: FakePostgrest) -> None:
    result = runner.invoke(app, ["reconcile", "--config", str(project), "--apply"])
    assert result.exit_code == 0, result.output
    assert "parts/gone.jpg" in {r["file_path"] for r in rest.tables[TABLE].rows}


def test_reconcile_apply_yes_json(project: Path, rest: FakePostgrest) -> None:
    result = runner.invoke(app, ["reconcile", "--config", str(project), "--apply", "--yes",
                                 "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["by_extension"] == {"jpg": 30, "txt": 1}
    assert (summary["missing"], summary["inserted"], summary["orphans_removed"]) == (29, 29, 1)
    assert summary["orphans"] == ["parts/gone.jpg"]
    assert len(rest.tables[TABLE].rows) == 31  # 30 JPGs and the text file's own record


def test_reconcile_dry_run_changes_nothing(project: Path, rest: FakePostgrest) -> None:
    result = runner.invoke(app, ["reconcile", "--config", str(project), "--dry-run", "--apply",
                                 "--yes"])
    assert result.exit_code == 0, result.output
    assert "(dry run)" in result.output
    assert len(rest.tables[TABLE].rows) == 3
