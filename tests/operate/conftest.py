"""One real Prefect server (`mediasync server`) and one `mediasync serve` for the operate
tests, shared by the session because the server takes 10-15 s to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from mediasync.demo import make_library
from mediasync.runlock import LockHolder, acquire, run_lock_for
from tests.helpers import Workspace
from tests.operate.service import PrefectService, wait_until

STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT first: serve then pauses its deployments and exits cleanly."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def prefect_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectService]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    logs = home / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "mediasync", "server", "--port", str(port), "--home", str(home),
         "--no-scheduler"], env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
        stdout=(logs / "server.log").open("wb"), stderr=subprocess.STDOUT)
    service = PrefectService(api=api, env=env, logs=logs)
    try:
        wait_until(lambda: server.poll() is not None or service.healthy(), STARTUP_SECONDS,
                   "the Prefect server to answer")
        assert server.poll() is None, (logs / "server.log").read_text()
        yield service
    finally:
        stop(server)


@pytest.fixture(scope="session")
def served(prefect_service: PrefectService) -> Iterator[PrefectService]:
    """`mediasync serve` for every deployment of deployments/prefect.yaml."""
    log = prefect_service.logs / "serve.log"
    runner_port = free_port()
    # the runner's /health, as docker-compose.yml's health check of the worker reads it
    env = {**prefect_service.env, "PREFECT_RUNNER_SERVER_ENABLE": "true",
           "PREFECT_RUNNER_SERVER_PORT": str(runner_port)}
    process = subprocess.Popen([sys.executable, "-m", "mediasync", "serve"],
                               env=env, cwd=Path(__file__).parents[2],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is not None
                   or prefect_service.deployment_id(prefect_service.media_sync) is not None,
                   STARTUP_SECONDS, "mediasync serve to register its deployments")
        assert process.poll() is None, log.read_text()
        yield replace(prefect_service, serve_pid=process.pid, runner_port=runner_port)
    finally:
        stop(process)


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
