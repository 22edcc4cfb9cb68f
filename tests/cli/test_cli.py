"""The `mediasync` command as a user types it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mediasync.cli.demo import make_library
from mediasync.cli.main import app
from tests.helpers import Workspace

runner = CliRunner()


def test_steps_lists_all_eight():
    result = runner.invoke(app, ["steps"])
    assert result.exit_code == 0
    for name in ("download", "pixel sync", "pixel verification", "NAS archive", "processing",
                 "compression", "source delete", "cleanup"):
        assert name in result.output


@pytest.mark.usefixtures("prefect_api")
def test_run_then_status_json(workspace: Workspace):
    samples = make_library(workspace.library)
    result = runner.invoke(app, ["run", "--config", str(workspace.config)])
    assert result.exit_code == 0, result.output
    status = runner.invoke(app, ["status", "--json", "--config", str(workspace.config)])
    assert status.exit_code == 0
    report = json.loads(status.stdout)
    assert report["stages"]["completed"] == len(samples["good"])
    assert report["stages"]["failed"] == len(samples["bad"])
    assert report["stages"]["skipped"] == len(samples["skipped"])
    assert set(report["stages"]) >= {"downloaded", "nas_archived", "completed", "skipped"}
    assert {f["file"] for f in report["failed"]} == {"empty.jpg", "truncated.jpg"}
    assert all(f["reason"] for f in report["failed"])
    assert report["runs"][0]["status"] == "completed"


@pytest.mark.usefixtures("prefect_api")
def test_run_that_halts_exits_non_zero_with_the_reason(workspace: Workspace):
    make_library(workspace.library)
    shutil.rmtree(workspace.nas)
    result = runner.invoke(app, ["run", "--config", str(workspace.config)])
    assert result.exit_code == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: step 4 (NAS archive) failed: NAS archive")
    assert "does not exist" in last_line


def test_run_refuses_start_after_end(workspace: Workspace):
    result = runner.invoke(app, ["run", "--config", str(workspace.config), "--start", "5",
                                 "--end", "2"])
    assert result.exit_code == 2
    assert "--start (5) is after --end (2)" in result.stderr


def test_config_init_writes_a_config_that_loads(tmp_path):
    target = tmp_path / "mediasync.toml"
    assert runner.invoke(app, ["config", "init", str(target)]).exit_code == 0
    assert "[workflow]" in target.read_text()
    again = runner.invoke(app, ["config", "init", str(target)])
    assert again.exit_code == 2 and "exists" in again.stderr
    check = runner.invoke(app, ["config", "check", "--config", str(target)])
    assert check.exit_code == 1  # the example points at folders that do not exist here


def test_config_check_reports_every_problem_at_once(tmp_path):
    config = tmp_path / "mediasync.toml"
    config.write_text('[source]\nkind = "folder"\npath = "missing-photos"\n'
                      '[workflow]\nnas_archive = "no-nas"\n'
                      '[syncthing]\nenabled = true\n')
    result = runner.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("workflow.nas_archive:") for line in lines)
    assert any(line.startswith("source.path:") for line in lines)
    assert {"syncthing.api_key: required when syncthing.enabled is true",
            "syncthing.folder_id: required when syncthing.enabled is true",
            "syncthing.device_id: required when syncthing.enabled is true"} <= set(lines)


def test_unknown_settings_are_errors_with_the_closest_known_name(tmp_path):
    """A typo must not leave a default in force: `max_deletes_per_ru = 10` ignored would
    let 200 deletes a run through."""
    config = tmp_path / "mediasync.toml"
    config.write_text('[source]\ndelet = true\n[guards]\nmax_deletes_per_ru = 10\n'
                      'keep_recent_days = "soon"\n[[compression.rules]]\nstrategi = "jpeg"\n'
                      '[sftp.archive]\nhost = "nas"\nroot = "/a"\nuser = "me"\n'
                      'known_hosts = "kh"\nverfy = "read"\n[nonsense]\nx = 1\n')
    result = runner.invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 1
    lines = set(result.stderr.strip().splitlines())
    assert {"source.delet: unknown setting (did you mean source.delete?)",
            "guards.max_deletes_per_ru: unknown setting (did you mean "
            "guards.max_deletes_per_run?)",
            "guards.keep_recent_days: Input should be a valid integer, unable to parse "
            "string as an integer",
            "compression.rules.0.strategi: unknown setting (did you mean "
            "compression.rules.0.strategy?)",
            "sftp.archive.verfy: unknown setting (did you mean sftp.archive.verify?)",
            "nonsense: unknown setting"} <= lines, lines
    run = runner.invoke(app, ["status", "--config", str(config)])
    assert run.exit_code == 2 and "source.delet: unknown setting" in run.stderr


def test_config_check_passes_on_a_good_config(workspace: Workspace):
    result = runner.invoke(app, ["config", "check", "--config", str(workspace.config)])
    assert result.exit_code == 0, result.stderr
    assert "configuration OK" in result.stdout


def test_bad_config_value_is_one_line_naming_file_and_setting(tmp_path):
    config = tmp_path / "mediasync.toml"
    config.write_text("[workflow]\npixel_batch_size = 0\n")
    result = runner.invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert str(config) in message and "workflow.pixel_batch_size" in message


def test_secret_values_never_appear_in_config_errors(tmp_path):
    config = tmp_path / "mediasync.toml"
    config.write_text('[syncthing]\napi_key = "s3cret-key-value"\ntimeout_seconds = -1\n')
    result = runner.invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 2
    assert "s3cret-key-value" not in result.output + result.stderr


def test_missing_config_file_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["status", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "config file not found" in result.stderr


def test_the_core_never_imports_prefect():
    code = ("import pkgutil, importlib, sys, mediasync\n"
            "for m in pkgutil.walk_packages(mediasync.__path__, 'mediasync.'):\n"
            "    if m.name != 'mediasync.__main__':\n"
            "        importlib.import_module(m.name)\n"
            "print('prefect' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
