"""The run itself lives in the core: run_pipeline works with no Prefect at all, and the
flow (the same run, each step as its task) leaves the ledger in the same state."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from mediasync.cli.demo import make_library
from mediasync.errors import LedgerBusy
from mediasync.ledger import run_lock_for
from mediasync.ledger.runlock import LockHolder, holding
from mediasync.model import Stage
from mediasync.pipeline.run import run_pipeline
from tests.helpers import Workspace


def _end_state(ws: Workspace) -> dict[str, Any]:
    """Per file: stage, hash, where on the NAS, error, and the stages it went through."""
    ledger = ws.ledger()
    try:
        state = {}
        for media in ledger.files_at(list(Stage)):
            assert media.id is not None
            nas = Path(media.nas_path).relative_to(ws.nas) if media.nas_path else None
            state[media.source_id] = (
                media.workflow_stage, media.content_hash, media.nas_hash, nas, media.error,
                [(e.from_stage, e.to_stage) for e in ledger.events(media.id)])
        return state
    finally:
        ledger.close()


def test_core_run_and_flow_run_leave_the_same_ledger(tmp_path: Path, prefect_api: str):
    core, flow = Workspace.create(tmp_path / "core"), Workspace.create(tmp_path / "flow")
    make_library(core.library)
    shutil.copytree(core.library, flow.library, dirs_exist_ok=True)

    result = run_pipeline(core.settings(), "core-run")
    assert result.completed, result.message
    assert [r.step for r in result.reports] == list(range(1, 9))
    state = flow.run()
    assert state.is_completed(), state.message

    assert _end_state(core) == _end_state(flow)
    assert len(_end_state(core)) > 5
    ledger = core.ledger()
    try:
        [operation] = ledger.recent_operations(5, "media_sync")
        assert (operation.status, operation.run_id) == ("completed", "core-run")
    finally:
        ledger.close()


def test_core_run_halts_at_the_first_failed_step(workspace: Workspace):
    (workspace.library / "a.jpg").write_bytes(b"\xff\xd8" + b"x" * 1000)
    workspace.nas.rmdir()  # the NAS is not mounted
    result = run_pipeline(workspace.settings(), "halted")
    assert not result.completed
    assert result.failed_step == 4
    assert result.message.startswith("step 4 (NAS archive) failed: NAS archive ")
    assert [r.step for r in result.reports] == [1, 2, 3]
    ledger = workspace.ledger()
    try:
        [operation] = ledger.recent_operations(5, "media_sync")
        assert operation.status == "failed" and operation.error == result.message
        assert ledger.counts_by_stage() == {Stage.DOWNLOADED: 1}
    finally:
        ledger.close()


def test_core_run_takes_the_ledger_lock(workspace: Workspace):
    settings = workspace.settings()
    lock = run_lock_for(settings.ledger.url, settings.base_dir)
    with holding(lock, LockHolder(run_id="other")):
        with pytest.raises(LedgerBusy, match="other"):
            run_pipeline(settings, "second")
        assert run_pipeline(settings, "dry", dry_run=True).completed  # changes nothing
