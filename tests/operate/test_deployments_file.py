"""deployments/prefect.yaml: each deployment has a schedule and a description, and its
parameters fit its flow. Entrypoints whose flow is not in this checkout are skipped by
`mediasync serve`; here only those that exist are loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from prefect.utilities.callables import parameter_schema

from flows.serving import DEFAULT_FILE, read_specs, runner_deployments, to_schedule
from mediasync.cli import operate

ROOT = Path(__file__).resolve().parents[2]
SPECS = read_specs(DEFAULT_FILE)
PRESENT = [spec for spec in SPECS if (ROOT / spec.entrypoint.split(":")[0]).exists()]


def test_the_file_declares_media_sync_every_30_minutes_and_the_daily_jobs():
    by_entrypoint = {spec.entrypoint: spec for spec in SPECS}
    assert by_entrypoint["flows/media_sync.py:media_sync"].schedules == [
        {"cron": "*/30 * * * *", "timezone": "UTC"}]
    for daily in ("flows/bucket_sync.py:bucket_sync", "flows/reconcile.py:reconcile"):
        [schedule] = by_entrypoint[daily].schedules
        minute, hour, *rest = schedule["cron"].split()
        assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"], daily


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.entrypoint)
def test_every_deployment_is_described_and_scheduled(spec):
    assert spec.description and len(spec.description) > 40
    assert [to_schedule(s) for s in spec.schedules]


@pytest.mark.parametrize("spec", PRESENT, ids=lambda s: s.entrypoint)
def test_the_parameters_fit_the_flow(spec):
    flow = spec.load_flow()
    flow.validate_parameters(spec.parameters)  # raises ParameterTypeError when they do not


def test_media_sync_parameters_are_typed_for_the_server():
    [deployment] = [d for d in runner_deployments(PRESENT) if d.flow_name == "media-sync"]
    [spec] = [s for s in PRESENT if s.entrypoint == "flows/media_sync.py:media_sync"]
    schema = parameter_schema(spec.load_flow()).model_dump()["properties"]
    assert deployment.enforce_parameter_schema
    assert (schema["start"]["minimum"], schema["start"]["maximum"]) == (1, 8)
    assert schema["dry_run"]["type"] == "boolean"
    assert schema["wait_for_lock"]["minimum"] == 0
    assert deployment.entrypoint == "flows.media_sync.media_sync"


def test_a_flow_that_is_not_installed_is_reported_and_skipped(tmp_path):
    missing = tmp_path / "prefect.yaml"
    missing.write_text("deployments:\n  - name: daily\n    entrypoint: flows/nowhere.py:job\n")
    skipped: list[str] = []
    assert runner_deployments(read_specs(missing),
                              skipped=lambda spec, why: skipped.append(why)) == []
    assert skipped == ["flows/nowhere.py:job is not installed"]


@pytest.mark.parametrize("command", ["serve", "server"])
def test_every_option_is_documented(command):
    docs = (ROOT / "docs" / "operations.md").read_text()
    for param in typer.main.get_command(operate.app).commands[command].params:
        shown = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
        assert any(option in docs for option in shown), f"{command} {shown} is undocumented"
