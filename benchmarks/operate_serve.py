"""What operating mediasync costs: a served deployment run from request to end, the run
lock, an alert.

    uv run python -m benchmarks.operate_serve [--runs 5] [--poll 10]

Starts `mediasync server` and `mediasync serve` (as the operate tests do), then asks for
`--runs` dry runs of step 4 one after the other and reads their times from the API:
pickup (created → running: the runner's poll plus the run's process start), run (running
→ final) and total. Then times run-lock cycles and alerts to a local webhook.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from mediasync import notify
from mediasync.ledger import run_lock_for
from mediasync.ledger.runlock import LockHolder, acquire
from mediasync.settings import Settings
from tests.fakes.webhook_server import WebhookServer
from tests.helpers import Workspace
from tests.operate.service import mediasync_serve, prefect_server


def served_runs(runs: int, poll: int, root: Path) -> list[tuple[float, float, float]]:
    workspace = Workspace.create(root / "ws")
    with (prefect_server(root / "home", PREFECT_RUNNER_POLL_FREQUENCY=str(poll)) as server,
          mediasync_serve(server) as served):
        times = []
        for _ in range(runs):
            run = served.wait_final(served.create_run(
                {"config": str(workspace.config), "dry_run": True, "start": 4, "end": 4}))
            assert run["state"]["type"] == "COMPLETED", run["state"]
            created, started, ended = (datetime.fromisoformat(run[key]) for key in
                                       ("created", "start_time", "end_time"))
            times.append(((started - created).total_seconds(),
                          (ended - started).total_seconds(), (ended - created).total_seconds()))
        return times


def lock_cycle_us(root: Path, cycles: int = 2000) -> float:
    lock = run_lock_for("sqlite:///mediasync.db", root)
    assert lock is not None
    began = time.perf_counter()
    for _ in range(cycles):
        acquire(lock, LockHolder(run_id="bench"))
        lock.release()
    return (time.perf_counter() - began) / cycles * 1e6


def alert_ms(alerts: int = 50) -> float:
    logging.getLogger("mediasync.notify").setLevel(logging.ERROR)  # each alert logs a line
    with WebhookServer() as hook:
        settings = Settings(notify={"webhook_url": hook.url})
        began = time.perf_counter()
        for _ in range(alerts):
            notify.send(notify.RUN_FAILED, "step 4 failed", "mount the NAS", settings=settings)
        elapsed = time.perf_counter() - began
    assert len(hook.received) == alerts
    return elapsed / alerts * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--poll", type=int, default=10, help="runner poll seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        times = served_runs(args.runs, args.poll, root)
        print(f"served dry runs of step 4, runner polling every {args.poll} s")
        print("| run | pickup s | run s | total s |\n|---|---|---|---|")
        for number, (pickup, run, total) in enumerate(times, 1):
            print(f"| {number} | {pickup:.1f} | {run:.1f} | {total:.1f} |")
        print(f"median total: {statistics.median(t[2] for t in times):.1f} s")
        print(f"run lock acquire+release: {lock_cycle_us(root):.0f} µs")
        print(f"alert to a local webhook: {alert_ms():.1f} ms")


if __name__ == "__main__":
    main()
