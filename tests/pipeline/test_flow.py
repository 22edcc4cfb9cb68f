"""The media-sync flow end to end on real Prefect, a folder source and a local NAS."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mediasync.cli.demo import make_library
from mediasync.model import Stage
from tests.helpers import Workspace, archived_files, sha256, tree_snapshot

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def demo_workspace(workspace: Workspace) -> tuple[Workspace, dict[str, list[Path]]]:
    return workspace, make_library(workspace.library)


def test_full_run_archives_every_good_file_once_and_fails_bad_ones(demo_workspace):
    ws, samples = demo_workspace
    state = ws.run()
    assert state.is_completed(), state.message

    ledger = ws.ledger()
    counts = ledger.counts_by_stage()
    assert counts == {"completed": len(samples["good"]), "failed": len(samples["bad"]),
                      "skipped": len(samples["skipped"])}
    archived = archived_files(ws.nas)
    for original in samples["good"]:
        copies = archived[sha256(original)]
        assert len(copies) == 1, f"{original} archived {len(copies)} times"
        assert copies[0].read_bytes() == original.read_bytes()
    reasons = {m.filename: m.error for m in ledger.files_at([Stage.FAILED])}
    assert "empty file" in reasons["empty.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    # the source is untouched: deleting is off by default
    assert all(p.exists() for group in samples.values() for p in group)


def test_second_run_finds_nothing_new(demo_workspace):
    ws, _ = demo_workspace
    assert ws.run().is_completed()
    before = tree_snapshot(ws.nas)
    state = ws.run()
    assert state.is_completed()
    first_step = state.result()["steps"][0]
    assert first_step["done"] == 0 and first_step["failed"] == 0
    assert tree_snapshot(ws.nas) == before


def test_a_range_runs_only_those_steps(demo_workspace):
    ws, samples = demo_workspace
    assert ws.run(start=1, end=1).is_completed()
    state = ws.run(start=4, end=4)
    assert state.is_completed()
    assert [row["step"] for row in state.result()["steps"]] == [4]
    counts = ws.ledger().counts_by_stage()
    assert counts[Stage.NAS_ARCHIVED] == len(samples["good"]) + 1  # the truncated one too
    assert Stage.PROCESSING_READY not in counts


def test_dry_run_changes_no_byte(demo_workspace):
    ws, _ = demo_workspace
    assert ws.run(start=1, end=4).is_completed()
    before = tree_snapshot(ws.root)
    state = ws.run(dry_run=True)
    assert state.is_completed(), state.message
    assert tree_snapshot(ws.root) == before
    planned = {row["step"]: row for row in state.result()["steps"]}
    assert planned[5]["done"] > 0  # it did look: step 5 would process the archived files


def test_dry_run_on_a_fresh_install_creates_nothing(demo_workspace):
    ws, _ = demo_workspace
    before = tree_snapshot(ws.root)
    state = ws.run(dry_run=True)
    assert state.is_completed(), state.message
    assert tree_snapshot(ws.root) == before
    assert not (ws.root / "mediasync.db").exists()


def test_missing_nas_halts_at_step_4_and_the_rerun_recovers(demo_workspace):
    ws, samples = demo_workspace
    shutil.rmtree(ws.nas)
    state = ws.run()
    assert state.is_failed()
    assert "step 4 (NAS archive) failed" in state.message
    assert "does not exist" in state.message
    summary = state.result(raise_on_failure=False)
    assert [row["step"] for row in summary["steps"]] == [1, 2, 3]
    assert not ws.nas.exists(), "an unmounted NAS must never be created"
    assert Stage.NAS_ARCHIVED not in ws.ledger().counts_by_stage()

    ws.nas.mkdir()
    assert ws.run().is_completed()
    archived = archived_files(ws.nas)
    for original in samples["good"]:
        assert len(archived[sha256(original)]) == 1


def test_start_after_end_is_refused(workspace):
    state = workspace.run(start=5, end=3)
    assert state.is_failed()
    assert "start (5) is after end (3)" in state.message


def test_step_numbers_out_of_range_are_refused(workspace):
    state = workspace.run(start=0)
    assert state.is_failed()
    assert "start: Input should be greater than or equal to 1" in state.message
    assert not (workspace.root / "mediasync.db").exists()
