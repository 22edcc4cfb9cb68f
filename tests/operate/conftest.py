"""One real Prefect server (`mediasync server`) and one `mediasync serve` for the operate
tests, shared by the session because the server takes 10-15 s to start."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediasync.cli.demo import make_library
from mediasync.ledger import run_lock_for
from mediasync.ledger.runlock import LockHolder, acquire
from tests.helpers import Workspace
from tests.operate.service import (
    STARTUP_SECONDS,
    PrefectService,
    mediasync_serve,
    prefect_server,
    wait_until,
)


@pytest.fixture(scope="session")
def prefect_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectService]:
    # the runner looks for new runs every second instead of every 10
    with prefect_server(tmp_path_factory.mktemp("prefect-home"),
                        PREFECT_RUNNER_POLL_FREQUENCY="1") as service:
        yield service


@pytest.fixture(scope="session")
def served(prefect_service: PrefectService) -> Iterator[PrefectService]:
    with mediasync_serve(prefect_service) as service:
        yield service


@dataclass
class DemoRuns:
    workspace: Workspace
    runs: list[dict[str, Any]]  # the two flow runs, as the API returns them
    good_files: list[Path]


@pytest.fixture(scope="session")
def two_demo_runs(served: PrefectService,
                  tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    """Two full runs on one demo library, started together. The test holds the ledger's
    lock until both are running, so both are inside the flow and contending for it."""
    ws = Workspace.create(tmp_path_factory.mktemp("demo"))
    samples = make_library(ws.library)
    lock = run_lock_for("sqlite:///mediasync.db", ws.root)
    assert lock is not None
    acquire(lock, LockHolder(run_id="the-test-holds-the-ledger"))
    try:
        ids = [served.create_run({"config": str(ws.config), "wait_for_lock": 300})
               for _ in range(2)]
        wait_until(lambda: all(served.state_of(i) == "RUNNING" for i in ids),
                   STARTUP_SECONDS, "both runs to be running")
    finally:
        lock.release()
    return DemoRuns(ws, [served.wait_final(i) for i in ids], samples["good"])
