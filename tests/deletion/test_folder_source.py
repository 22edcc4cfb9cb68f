"""The deletion gate is source-agnostic: step 7 deletes from a folder source under the
same gates as from iCloud, when `source.delete` is on."""

from __future__ import annotations

from pathlib import Path

from mediasync.cli.demo import make_library
from mediasync.pipeline.steps import STEPS, open_context
from tests.helpers import Workspace


def test_step_seven_deletes_the_proven_originals_only(tmp_path: Path) -> None:
    workspace = Workspace.create(tmp_path, "\n[guards]\ndelete_interval_seconds = 0\n")
    samples = make_library(workspace.library)
    text = workspace.config.read_text().replace('path = "library"',
                                                'path = "library"\ndelete = true')
    workspace.config.write_text(text)
    ctx = open_context(workspace.settings(), "run-1")
    try:
        reports = [step.run(ctx) for step in STEPS]
    finally:
        ctx.ledger.close()
    assert f"deleted {len(samples['good'])} at the source" in reports[6].message
    assert not any(path.exists() for path in samples["good"])
    assert all(path.exists() for path in samples["bad"])  # failed: never proven
    assert all(path.exists() for path in samples["skipped"])  # sidecars: never imported
    kept = {str(path.relative_to(workspace.library))
            for path in samples["bad"] + samples["skipped"]}
    ledger = workspace.ledger()
    try:
        for media in ledger.files_where(source_deleted_at=None):
            assert media.source_id in kept
    finally:
        ledger.close()
