"""Step 1 tries a failed file again on later runs, a few times: a file that was empty
when listed (still being copied in) is fetched once it has its bytes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile, Stage
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.download import MAX_DOWNLOAD_ATTEMPTS
from mediasync.pipeline.steps import STEPS, open_context
from tests.helpers import Workspace, sha256


def _download(ws: Workspace, run_id: str) -> tuple[StepReport, MediaFile]:
    ctx = open_context(ws.settings(), run_id)
    try:
        report = STEPS[0].run(ctx)
        [row] = ctx.ledger.files_where()
    finally:
        ctx.ledger.close()
    return report, row


def test_a_file_empty_when_listed_is_fetched_once_it_has_bytes(tmp_path: Path):
    ws = Workspace.create(tmp_path)
    (ws.library / "IMG_0001.jpg").write_bytes(b"")  # the copy into the folder has begun

    report, row = _download(ws, "run-1")
    assert (report.done, report.failed) == (0, 1)
    assert row.workflow_stage == Stage.FAILED and row.error == "empty file (0 bytes) at the source"

    photo(ws.library / "IMG_0001.jpg", PhotoSpec(captured=datetime(2023, 5, 4, 12), seed=1))
    report, row = _download(ws, "run-2")
    assert (report.done, report.failed) == (1, 0)
    assert row.workflow_stage == Stage.DOWNLOADED and row.attempts == 2
    assert row.content_hash == sha256(ws.library / "IMG_0001.jpg")
    assert row.size == (ws.library / "IMG_0001.jpg").stat().st_size
    assert sha256(Path(row.local_path)) == row.content_hash  # type: ignore[arg-type]


def test_a_file_that_stays_empty_is_not_tried_or_reported_again(tmp_path: Path):
    ws = Workspace.create(tmp_path)
    (ws.library / "IMG_0001.jpg").write_bytes(b"")
    report, first = _download(ws, "run-1")
    assert report.failed == 1
    for run in range(2, MAX_DOWNLOAD_ATTEMPTS + 3):
        report, row = _download(ws, f"run-{run}")
        assert (report.done, report.failed, report.skipped) == (0, 0, 0)
        assert row == first  # the ledger keeps the first verdict, attempts included
