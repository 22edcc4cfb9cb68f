"""One media-sync run at a time on a Postgres ledger: the advisory lock, on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mediasync.errors import LedgerBusy
from mediasync.ledger import open_ledger, run_lock_for
from mediasync.ledger.runlock import LockHolder, acquire
from tests.helpers import Workspace


def test_a_second_run_is_refused_and_told_who_holds_the_ledger(empty_pg_url, tmp_path):
    first, second = (run_lock_for(empty_pg_url, tmp_path) for _ in range(2))
    assert first is not None and second is not None
    acquire(first, LockHolder(run_id="run-one"))
    try:
        with pytest.raises(LedgerBusy, match=r"\(run-one\)"):
            acquire(second, LockHolder(run_id="run-two"))
    finally:
        first.release()
    acquire(second, LockHolder(run_id="run-two"))
    second.release()


def test_the_lock_dies_with_a_killed_holder(empty_pg_url, tmp_path):
    code = ("import sys, time\n"
            "from mediasync.ledger import run_lock_for\n"
            "from mediasync.ledger.runlock import LockHolder, acquire\n"
            "lock = run_lock_for(sys.argv[1], '.')\n"
            "acquire(lock, LockHolder(run_id='killed-run'))\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, empty_pg_url],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LedgerBusy, match=r"\(killed-run\)"):
            acquire(run_lock_for(empty_pg_url, tmp_path), LockHolder(run_id="next"))
    finally:
        holder.kill()
        holder.wait()
    lock = run_lock_for(empty_pg_url, tmp_path)
    acquire(lock, LockHolder(run_id="next"), wait_seconds=10)
    lock.release()


def test_the_supabase_rest_ledger_runs_without_a_lock(tmp_path):
    assert run_lock_for("supabase", tmp_path) is None


def test_mediasync_run_completes_on_a_fresh_postgres_database(empty_pg_url, tmp_path: Path,
                                                            prefect_api: str):
    """The run lock and the ledger's first migration on two connections of one run: with
    one advisory key for both, the run waited for itself for ever."""
    workspace = Workspace.create(tmp_path)
    (workspace.library / "IMG_0001.jpg").write_bytes(os.urandom(5000))
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "MEDIASYNC_LEDGER__URL": empty_pg_url}
    done = subprocess.run(
        [sys.executable, "-m", "mediasync", "run", "--config", str(workspace.config),
         "--end", "4"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    ledger = open_ledger(empty_pg_url, tmp_path)
    try:
        assert ledger.counts_by_stage() == {"nas_archived": 1}
    finally:
        ledger.close()


def test_a_run_on_an_unreachable_postgres_ledger_says_so_in_one_line(tmp_path: Path,
                                                                     prefect_api: str):
    workspace = Workspace.create(tmp_path)
    url = "postgresql://postgres@127.0.0.1:1/nowhere"  # port 1: nothing listens
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "MEDIASYNC_LEDGER__URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "mediasync", "run", "--config", str(workspace.config)],
        env=env, capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    last = [line for line in output.splitlines() if line.startswith("error:")][-1]
    assert last.startswith(f"error: ledger {url}: connection failed")
    assert last.endswith("(is the database server up? check ledger.url)")
