"""A running Prefect server as the tests see it: its REST API and its CLI."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120
BUSY_RETRIES = 10
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
SETTLE_SECONDS = 20  # task runs reach the server as events, after their flow run ends


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.5)
    return result


@dataclass
class PrefectService:
    api: str
    env: dict[str, str]
    logs: Path
    media_sync: str = "media-sync/every-30-minutes"
    serve_pid: int | None = None  # the `mediasync serve` process, once started
    runner_port: int | None = None  # its health endpoint

    def serving_a_run(self) -> bool:
        """Whether `mediasync serve` has a flow-run process (a child) alive."""
        tasks = Path(f"/proc/{self.serve_pid}/task")
        return any(child.read_text().strip() for child in tasks.glob("*/children"))

    @property
    def ui(self) -> str:
        return self.api.removesuffix("/api")

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A busy SQLite-backed server answers 503 for a moment: ask again, as Prefect's
        own client does."""
        for _ in range(BUSY_RETRIES):
            response = httpx.request(method, f"{self.api}{path}", timeout=30, **kw)
            if response.status_code != 503:
                break
            time.sleep(1)
        return response

    def healthy(self) -> bool:
        try:
            return self._call("GET", "/health").is_success
        except httpx.TransportError:
            return False

    def deployment_id(self, name: str) -> str | None:
        response = self._call("GET", f"/deployments/name/{name}")
        return response.json()["id"] if response.is_success else None

    def create_run(self, parameters: dict[str, Any]) -> str:
        deployment = self.deployment_id(self.media_sync)
        response = self._call("POST", f"/deployments/{deployment}/create_flow_run",
                              json={"parameters": parameters})
        response.raise_for_status()
        return str(response.json()["id"])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "prefect", *args], env=self.env,
                              capture_output=True, text=True, timeout=300)

    def run_deployment(self, *params: str, watch: bool = True,
                       ) -> tuple[subprocess.CompletedProcess[str], str | None]:
        """`prefect deployment run` with `--param k=v` each; returns the run's id too."""
        args = [a for p in params for a in ("--param", p)] + (["--watch"] if watch else [])
        done = self.cli("deployment", "run", self.media_sync, *args)
        found = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
        return done, found.group(1) if found else None

    def flow_run(self, run_id: str) -> dict[str, Any]:
        response = self._call("GET", f"/flow_runs/{run_id}")
        response.raise_for_status()
        return dict(response.json())

    def state_of(self, run_id: str) -> str:
        return str(self.flow_run(run_id)["state"]["type"])

    def wait_final(self, run_id: str, timeout: float = 180) -> dict[str, Any]:
        wait_until(lambda: self.state_of(run_id) in FINAL, timeout, f"flow run {run_id}")
        return self.flow_run(run_id)

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        """The run's task runs once the server has them all. It records them from the
        runner's events, a moment after the flow run itself is final: read until every
        one is final and two reads a second apart agree."""
        deadline = time.monotonic() + SETTLE_SECONDS
        seen = self._task_runs_now(run_id)
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = self._task_runs_now(run_id)
            if [t["id"] for t in now] == [t["id"] for t in seen] \
                    and all(t["state_type"] in FINAL for t in now):
                return now
            seen = now
        return seen

    def _task_runs_now(self, run_id: str) -> list[dict[str, Any]]:
        response = self._call("POST", "/task_runs/filter", json={
            "flow_runs": {"id": {"any_": [run_id]}}, "sort": "EXPECTED_START_TIME_ASC"})
        response.raise_for_status()
        return list(response.json())

    def step_numbers(self, run_id: str) -> list[int]:
        """The steps a run executed, from its task runs ("step 4: NAS archive")."""
        names = [t["name"] for t in self.task_runs(run_id)]
        return sorted(int(m.group(1)) for n in names if (m := re.match(r"step (\d):", n)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT first: serve then pauses its deployments and exits cleanly."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def prefect_server(home: Path, **env: str) -> Iterator[PrefectService]:
    """`mediasync server` on a free port with its own PREFECT_HOME, scheduler off (no run
    starts unless asked for); `env` goes to every process started against it."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    telemetry = ("DO_NOT_TRACK", "PREFECT_SERVER_ANALYTICS_ENABLED")
    # the server gets no telemetry switch from here: `mediasync server` must set them
    plain = {k: v for k, v in os.environ.items() if k not in telemetry}
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "mediasync", "server", "--port", str(port), "--home", str(home),
         "--no-scheduler"], env=plain,
        stdout=(logs / "server.log").open("wb"), stderr=subprocess.STDOUT)
    clients = {**plain, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_HOME": str(home), "PREFECT_API_URL": api, **env}
    service = PrefectService(api=api, env=clients, logs=logs)
    try:
        wait_until(lambda: server.poll() is not None or service.healthy(), STARTUP_SECONDS,
                   "the Prefect server to answer")
        assert server.poll() is None, (logs / "server.log").read_text()
        yield service
    finally:
        stop(server)


@contextmanager
def mediasync_serve(service: PrefectService) -> Iterator[PrefectService]:
    """`mediasync serve` for every deployment of deployments/prefect.yaml, with the
    runner's /health on (docker-compose.yml's health check of the worker reads it)."""
    log = service.logs / "serve.log"
    runner_port = free_port()
    env = {**service.env, "PREFECT_RUNNER_SERVER_ENABLE": "true",
           "PREFECT_RUNNER_SERVER_PORT": str(runner_port)}
    process = subprocess.Popen([sys.executable, "-m", "mediasync", "serve"], env=env, cwd=ROOT,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is not None
                   or service.deployment_id(service.media_sync) is not None,
                   STARTUP_SECONDS, "mediasync serve to register its deployments")
        assert process.poll() is None, log.read_text()
        yield replace(service, serve_pid=process.pid, runner_port=runner_port)
    finally:
        stop(process)
