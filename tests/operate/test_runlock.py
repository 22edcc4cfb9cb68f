"""One run at a time per ledger: the flock beside an SQLite ledger."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from mediasync.errors import ConfigError, LedgerBusy
from mediasync.ledger import run_lock_for
from mediasync.ledger.runlock import FileRunLock, LockHolder, acquire, holding

HOLD_AND_WAIT = """
import sys
from pathlib import Path
from mediasync.ledger.runlock import FileRunLock, LockHolder, acquire
acquire(FileRunLock(Path(sys.argv[1])), LockHolder(run_id="killed-run"))
print("held", flush=True)
sys.stdin.read()
"""


def lock_at(tmp_path: Path) -> FileRunLock:
    lock = run_lock_for("sqlite:///mediasync.db", tmp_path)
    assert isinstance(lock, FileRunLock)
    return lock


def test_the_lock_file_sits_beside_the_sqlite_ledger(tmp_path):
    assert lock_at(tmp_path).path == tmp_path / "mediasync.db.lock"
    absolute = run_lock_for(f"sqlite:///{tmp_path}/sub/ledger.db", Path("/elsewhere"))
    assert isinstance(absolute, FileRunLock)
    assert absolute.path == tmp_path / "sub" / "ledger.db.lock"


def test_an_in_memory_ledger_needs_no_lock(tmp_path):
    assert run_lock_for("sqlite:///:memory:", tmp_path) is None
    with holding(None, LockHolder(run_id="r")):
        pass


def test_a_second_run_is_refused_with_the_holder_named(tmp_path):
    first, second = lock_at(tmp_path), lock_at(tmp_path)
    acquire(first, LockHolder(run_id="run-one"))
    with pytest.raises(LedgerBusy) as refused:
        acquire(second, LockHolder(run_id="run-two"))
    since = first.holder().since
    assert str(refused.value) == (
        f"another media-sync run (run-one) holds the ledger since {since}")
    assert refused.value.held_since == datetime.fromisoformat(since)
    first.release()
    acquire(second, LockHolder(run_id="run-two"))
    assert second.holder().run_id == "run-two"


def test_a_waiting_run_gets_the_lock_when_the_first_releases_it(tmp_path):
    first, second = lock_at(tmp_path), lock_at(tmp_path)
    acquire(first, LockHolder(run_id="run-one"))
    releaser = threading.Timer(0.3, first.release)
    releaser.start()
    acquire(second, LockHolder(run_id="run-two"), wait_seconds=30, poll_seconds=0.05)
    releaser.join()
    assert second.holder().run_id == "run-two"


def test_a_wait_that_runs_out_says_how_long_it_waited(tmp_path):
    first, second = lock_at(tmp_path), lock_at(tmp_path)
    acquire(first, LockHolder(run_id="run-one"))
    with pytest.raises(LedgerBusy, match=r"holds the ledger since .* \(waited 0.2 s\)"):
        acquire(second, LockHolder(run_id="run-two"), wait_seconds=0.2, poll_seconds=0.05)


def test_holding_releases_on_error(tmp_path):
    with pytest.raises(RuntimeError), holding(lock_at(tmp_path), LockHolder(run_id="a")):
        raise RuntimeError("a step blew up")
    with holding(lock_at(tmp_path), LockHolder(run_id="b")):
        pass


def test_a_killed_holder_leaves_no_stuck_lock(tmp_path):
    path = lock_at(tmp_path).path
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_WAIT, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LedgerBusy, match=r"\(killed-run\)"):
            acquire(lock_at(tmp_path), LockHolder(run_id="next"))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    acquire(lock_at(tmp_path), LockHolder(run_id="next"))


def test_an_unknown_ledger_kind_has_no_lock_and_says_so(tmp_path):
    with pytest.raises(ConfigError, match="no run lock for 'mysql' ledgers"):
        run_lock_for("mysql://u@db/mediasync", tmp_path)
