"""`mediasync run` while another run holds the ledger: it ends at once with the holder
named, or waits for it with --wait-for-lock."""

from __future__ import annotations

import threading

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from typer.testing import CliRunner

from mediasync.cli.main import app
from mediasync.ledger import run_lock_for
from mediasync.ledger.runlock import FileRunLock, LockHolder, acquire
from tests.helpers import Workspace
from tests.operate.service import wait_until

pytestmark = pytest.mark.usefixtures("prefect_api")


def held(workspace: Workspace) -> FileRunLock:
    lock = run_lock_for("sqlite:///mediasync.db", workspace.root)
    assert isinstance(lock, FileRunLock)
    acquire(lock, LockHolder(run_id="run-in-progress"))
    return lock


def test_a_run_ends_at_once_naming_the_run_that_holds_the_ledger(workspace):
    lock = held(workspace)
    since = lock.holder().since
    try:
        result = CliRunner().invoke(app, ["run", "--config", str(workspace.config)],
                                    terminal_width=300)
    finally:
        lock.release()
    assert result.exit_code == 1
    assert (f"another media-sync run (run-in-progress) holds the ledger since {since}"
            in " ".join(result.output.split()))
    assert not (workspace.root / "mediasync.db").exists(), "the refused run opened the ledger"


def release_once_a_run_is_waiting(lock: FileRunLock) -> None:
    """The run is inside the flow (Running) before the holder lets go."""
    with get_client(sync_client=True) as client:
        wait_until(lambda: client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))),
            120, "the run to be running")
    lock.release()


def test_a_run_told_to_wait_goes_ahead_once_the_holder_is_done(workspace):
    lock = held(workspace)
    releaser = threading.Thread(target=release_once_a_run_is_waiting, args=(lock,))
    releaser.start()
    result = CliRunner().invoke(app, ["run", "--config", str(workspace.config),
                                      "--wait-for-lock", "60"])
    releaser.join()
    assert result.exit_code == 0, result.output
    assert "steps 1-8 completed" in result.output


def test_a_dry_run_goes_on_while_the_ledger_is_held(workspace):
    lock = held(workspace)
    try:
        result = CliRunner().invoke(app, ["run", "--config", str(workspace.config),
                                          "--dry-run"])
    finally:
        lock.release()
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was changed" in result.output
