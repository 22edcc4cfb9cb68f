"""The deployments served by `mediasync serve` against a real `prefect server`, driven
the way people drive them: `prefect deployment run` and the REST API the UI uses."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import httpx
import pytest

from mediasync.ledger import run_lock_for
from mediasync.ledger.runlock import LockHolder
from mediasync.media.samples import PhotoSpec, photo
from tests.fakes.webhook_server import WebhookServer
from tests.helpers import Workspace
from tests.operate.service import PrefectService, wait_until

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token"  # the last part of WebhookServer.url
API_KEY = "st-api-key-92b7aa"


def test_a_dry_run_of_step_4_completes_having_run_step_4_only(served: PrefectService,
                                                                workspace: Workspace):
    done, run_id = served.run_deployment("dry_run=true", "start=4", "end=4",
                                         f"config={workspace.config}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Flow run finished successfully in 'Completed'" in done.stdout
    run = served.flow_run(run_id)
    assert run["state"]["type"] == "COMPLETED"
    assert run["state"]["message"] == "dry run: nothing was changed"
    assert served.step_numbers(run_id) == [4]
    assert not (workspace.root / "mediasync.db").exists()


def test_mediasync_server_runs_prefect_with_analytics_off(served: PrefectService):
    settings = httpx.get(f"{served.api}/admin/settings", timeout=30).json()
    assert settings["server"]["analytics_enabled"] is False


def test_the_served_runner_answers_its_health_check(served: PrefectService):
    health = wait_until(lambda: _health(served.runner_port), 60, "the runner's /health")
    assert health.status_code == 200


def _health(port: int | None) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
    except httpx.TransportError:
        return None


def test_step_0_is_refused_with_a_clear_message(served: PrefectService):
    done, run_id = served.run_deployment("start=0", watch=False)
    assert done.returncode == 1
    output = " ".join((done.stdout + done.stderr).split())
    assert "Validation failed for field 'start'" in output
    assert "0 is less than the minimum of 1" in output
    assert run_id is None


def test_a_held_ledger_cancels_a_run_at_once_and_lets_a_dry_run_go_on(
        served: PrefectService, tmp_path):
    with WebhookServer() as hook:
        workspace = Workspace.create(tmp_path, extra_config=(
            f'\n[notify]\nwebhook_url = "{hook.url}"\n'))
        lock = run_lock_for("sqlite:///mediasync.db", workspace.root)
        # a holder of many hours: the refused run also alerts that it may hang
        assert lock.try_acquire(LockHolder(run_id="another-run",
                                           since="2026-01-01T00:00:00+00:00"))
        try:
            refused = served.create_run({"config": str(workspace.config), "wait_for_lock": 0})
            dry = served.create_run({"config": str(workspace.config), "dry_run": True})
            refused_run, dry_run = served.wait_final(refused), served.wait_final(dry)
        finally:
            lock.release()
        wait_until(lambda: not served.serving_a_run(), 60, "the runs' processes to end")
    assert refused_run["state"]["type"] == "CANCELLED"
    assert refused_run["state"]["message"] == (
        "another media-sync run (another-run) holds the ledger since 2026-01-01T00:00:00+00:00")
    assert served.step_numbers(refused) == []
    assert dry_run["state"]["type"] == "COMPLETED", dry_run["state"]["message"]
    assert served.step_numbers(dry) == list(range(1, 9))
    assert [alert["kind"] for alert in hook.received] == ["run_stuck"]
    assert "(another-run)" in hook.received[0]["message"]


def test_a_failed_run_sends_one_alert_with_step_and_reason_and_no_secret(
        served: PrefectService, tmp_path):
    with WebhookServer() as hook:
        ws = Workspace.create(tmp_path, extra_config=(
            f'\n[notify]\nwebhook_url = "{hook.url}"\n'
            f'\n[syncthing]\napi_key = "{API_KEY}"\n'))
        photo(ws.library / "IMG_0001.JPG", PhotoSpec(captured=datetime(2024, 6, 1), size=(64, 48)))
        shutil.rmtree(ws.nas)  # the NAS is not mounted: step 4 halts the run
        run_id = served.create_run({"config": str(ws.config)})
        run = served.wait_final(run_id)
        assert run["state"]["type"] == "FAILED"
        wait_until(lambda: hook.received, 60, "the alert")
        # the hook runs in the run's process: once that has ended, no alert can follow
        wait_until(lambda: not served.serving_a_run(), 60, "the run's process to end")
    assert len(hook.received) == 1
    body = hook.received[0]
    assert body["kind"] == "run_failed"
    assert (body["flow_run_id"], body["flow_run_name"]) == (run_id, run["name"])
    assert (body["step"], body["step_name"]) == (4, "NAS archive")
    assert "does not exist (is the NAS mounted?)" in body["reason"]
    assert body["url"] == f"{served.ui}/runs/flow-run/{run_id}"
    assert "NAS is mounted" in body["fix"] and "--start 4" in body["fix"]
    assert TOKEN not in json.dumps(body) and API_KEY not in json.dumps(body)
