"""SIGKILL during step 7's deletes, many times over, then a clean rerun: every file gone
from the source has a confirmed proof record and an archived copy that re-reads to its
hash; no proof is left as an open intent. A real `mediasync run`, killed for real
(issue 22: 199 files deleted at the source had no proof record after 71 kills)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from mediasync.ledger.base import DeletionState
from mediasync.ledger.sqlite import SqliteLedger
from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import Stage
from mediasync.pipeline.steps import STEPS, open_context
from tests.helpers import Workspace, sha256

FILES = 400
PADDING = 500_000  # a delete re-hashes each file: batches last long enough to kill inside
KILLS = 20
SETTINGS = """
[guards]
keep_recent_days = 0
max_deletes_per_run = 100000

[compression]
enabled = false
"""


def _library(folder: Path) -> dict[str, str]:
    """FILES distinct small JPEGs (one picture, distinct trailing bytes): name -> sha256."""
    seed = photo(folder.parent / "seed.jpg", PhotoSpec(size=(16, 16), icc=False, gps=None))
    picture = seed.read_bytes()
    made = {}
    for n in range(FILES):
        data = picture + os.urandom(PADDING)  # decoders stop at the end marker
        (folder / f"IMG_{n:04d}.jpg").write_bytes(data)
        made[f"IMG_{n:04d}.jpg"] = hashlib.sha256(data).hexdigest()
    return made


def _proven(workspace: Workspace) -> None:
    """Steps 1-6 in this process: every file archived and proven, nothing deleted yet."""
    ctx = open_context(workspace.settings(), "prepare")
    try:
        for step in STEPS[:6]:
            step.run(ctx)
    finally:
        ctx.ledger.close()
    workspace.config.write_text(workspace.config.read_text().replace(
        'path = "library"', 'path = "library"\ndelete = true'))


def _start(workspace: Workspace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`mediasync run` of step 7 alone; it waits for the ledger while another run holds
    it, so the next run starts up (imports, flow run) while this one is being killed."""
    return subprocess.Popen(
        [sys.executable, "-m", "mediasync", "run", "--config", str(workspace.config),
         "--start", "7", "--end", "7", "--wait-for-lock", "120"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_at_random_point(process: subprocess.Popen[bytes], library: Path,
                          rng: random.Random) -> None:
    """SIGKILL at a random time after the previous run died (resolving what it left,
    or deleting), or at a random moment after this run's first delete (inside a
    batch, mostly)."""
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0, 1.0))
    else:
        before = len(os.listdir(library))
        deadline = time.monotonic() + 60
        while len(os.listdir(library)) == before and process.poll() is None:
            assert time.monotonic() < deadline, "step 7 never started deleting"
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.005))
    process.send_signal(signal.SIGKILL)
    process.wait()


def _open_intents(workspace: Workspace) -> int:
    ledger = SqliteLedger(workspace.root / "mediasync.db", read_only=True)  # the next run writes
    try:
        return len(ledger.open_intents(ledger.files_where(filename="IMG_0000.jpg")[0].source))
    finally:
        ledger.close()


def test_kill_during_source_delete_then_rerun(tmp_path: Path, prefect_api: str) -> None:
    workspace = Workspace.create(tmp_path, SETTINGS)
    hashes = _library(workspace.library)
    _proven(workspace)
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    rng = random.Random(22)
    unanswered = 0  # kills that left deletes whose answer nobody read
    waiting = _start(workspace, env)
    for _ in range(KILLS):
        running, waiting = waiting, _start(workspace, env)
        _kill_at_random_point(running, workspace.library, rng)
        unanswered += bool(_open_intents(workspace))
    waiting.send_signal(signal.SIGKILL)
    waiting.wait()

    state = workspace.run(start=7, end=7)
    assert state.is_completed(), state.message

    remaining = set(os.listdir(workspace.library))
    settings = workspace.settings()
    ledger = workspace.ledger()
    try:
        files = {m.filename: m for m in ledger.files_at([Stage.COMPLETED,
                                                         Stage.ICLOUD_DELETE_READY])}
        assert set(files) == set(hashes)
        assert ledger.open_intents(files["IMG_0000.jpg"].source) == []
        for name, digest in hashes.items():
            media = files[name]
            confirmed = [p for p in ledger.deletions(media.id)  # type: ignore[arg-type]
                         if p.state == DeletionState.CONFIRMED]
            if name in remaining:
                assert confirmed == [] and media.source_deleted_at is None, name
                continue
            assert len(confirmed) == 1, f"{name}: gone from the source, proofs {confirmed}"
            assert media.source_deleted_at is not None, name
            assert media.content_hash == digest == confirmed[0].nas_hash, name
            assert sha256(settings.resolve(Path(confirmed[0].nas_path))) == digest, name
    finally:
        ledger.close()
    assert remaining == set(), "the clean rerun deletes what is left"
    assert unanswered > 0, "no kill landed between a delete and its answer: nothing tested"
