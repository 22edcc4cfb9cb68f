"""SIGKILL in the middle of step 4, then a rerun: every file archived exactly once, no
temp file left behind. A real process, killed for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mediasync.files import PARTIAL_SUFFIX
from mediasync.model import Stage
from mediasync.nas.archive import MARKER_NAME
from tests.helpers import Workspace, archived_files, sha256

FILES = 60
SIZE = 3_000_000


def _archived_count(nas: Path) -> int:
    return sum(1 for p in nas.rglob("*") if p.is_file() and not p.name.endswith(PARTIAL_SUFFIX)
               and p.name != MARKER_NAME)


def test_kill_during_archive_then_rerun(workspace: Workspace, prefect_api: str):
    for i in range(FILES):
        (workspace.library / f"IMG_{i:04d}.jpg").write_bytes(os.urandom(SIZE))
    assert workspace.run(start=1, end=1).is_completed()

    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    process = subprocess.Popen(
        [sys.executable, "-m", "mediasync", "run", "--config", str(workspace.config),
         "--start", "4", "--end", "4"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _archived_count(workspace.nas) < 3:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "step 4 never started archiving"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _archived_count(workspace.nas)
    assert killed_at < FILES, "the kill came too late to test anything"

    state = workspace.run(start=4, end=4)
    assert state.is_completed(), state.message

    archived = archived_files(workspace.nas)
    for source in workspace.library.iterdir():
        assert len(archived[sha256(source)]) == 1, f"{source.name} not archived exactly once"
    assert sum(len(paths) for paths in archived.values()) == FILES
    leftovers = [p for p in workspace.root.rglob(f"*{PARTIAL_SUFFIX}")]
    assert leftovers == []
    assert workspace.ledger().counts_by_stage() == {Stage.NAS_ARCHIVED: FILES}
