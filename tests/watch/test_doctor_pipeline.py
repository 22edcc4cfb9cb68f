"""The doctor after a real media-sync run: it agrees with what the pipeline wrote."""

from pathlib import Path

import pytest

from mediasync.cli.demo import make_library
from mediasync.model import Stage
from mediasync.records.doctor import diagnose
from mediasync.sources import build_source
from tests.helpers import Workspace

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_after_a_run_only_the_bad_samples_need_action_and_a_lost_archive_copy_shows(
        workspace: Workspace) -> None:
    samples = make_library(workspace.library)
    assert workspace.run().is_completed()
    ledger = workspace.ledger()
    try:
        settings = workspace.settings()
        report = diagnose(settings, ledger, build_source(settings))
        bad = {p.name for p in samples["bad"]}
        failed = [f for f in report.findings if f.code == "failed"]
        assert {ledger.get(i).filename for f in failed  # type: ignore[union-attr]
                for i in f.file_ids} == bad
        assert [f.code for f in report.findings if f.code != "failed"] == []
        assert report.stages["completed"] == len(samples["good"])
        assert report.places["source"] == sum(len(group) for group in samples.values())
        archived = {m.nas_path for m in ledger.files_where(nas_archived=True)}
        assert report.places["nas_archive"] == len(archived) >= len(samples["good"])

        [victim] = ledger.files_where(filename="VID_0004.MP4")
        Path(victim.nas_path or "").unlink()  # deleted by hand on the NAS
        report = diagnose(workspace.settings(), ledger)
        [lost] = [f for f in report.findings if f.code == "archive_lost"]
        assert lost.file_ids == [victim.id] and lost.needs_action
        assert victim.workflow_stage == Stage.COMPLETED
    finally:
        ledger.close()
