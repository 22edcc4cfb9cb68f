"""Step 4 run by two worker processes at once on one Postgres ledger."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mediasync.ledger.postgres import PostgresLedger
from mediasync.model import Stage
from mediasync.nas.archive import MARKER_NAME
from mediasync.pipeline import download
from mediasync.pipeline.steps import open_context
from tests.helpers import Workspace
from tests.ledger.library import photos

REPO = Path(__file__).resolve().parents[2]
FILES = 250  # more than two claimed batches of the step (100 files each)


@pytest.mark.slow
def test_two_workers_running_step_4_never_archive_the_same_file(
        empty_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = Workspace.create(tmp_path / "ws")
    photos(workspace.library, FILES)
    monkeypatch.setenv("MEDIASYNC_LEDGER__URL", empty_pg_url)
    ctx = open_context(workspace.settings(), "download-run")
    assert download.run(ctx).done == FILES
    ctx.ledger.close()

    start = tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-m", "tests.ledger.step4_worker",
                                 str(workspace.config), f"worker-{n}", str(start)],
                                cwd=REPO, stdout=subprocess.PIPE, text=True)
               for n in (1, 2)]
    assert [w.stdout.readline().strip() for w in workers] == ["ready", "ready"]
    start.touch()
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    assert sum(int(out.split()[-1]) for out in outputs) == FILES

    ledger = PostgresLedger(empty_pg_url)
    archived_by: Counter[str] = Counter()
    for media in ledger.files_at([Stage.NAS_ARCHIVED]):
        moves = [e for e in ledger.events(media.id) if e.to_stage == Stage.NAS_ARCHIVED]  # type: ignore[arg-type]
        assert len(moves) == 1, media.label  # archived once, by one worker
        archived_by[moves[0].run_id or ""] += 1
    ledger.close()
    assert sum(archived_by.values()) == FILES
    assert set(archived_by) == {"worker-1", "worker-2"}, archived_by
    assert len([p for p in workspace.nas.rglob("*")
                if p.is_file() and p.name != MARKER_NAME]) == FILES
