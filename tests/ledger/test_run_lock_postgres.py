"""One media-sync run at a time on a Postgres ledger: the advisory lock, on a real server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mediasync.errors import LedgerBusy
from mediasync.ledger import run_lock_for
from mediasync.ledger.runlock import LockHolder, acquire


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
