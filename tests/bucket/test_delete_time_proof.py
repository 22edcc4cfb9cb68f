"""Issue 22 with a Supabase Storage bucket as the source (the real supabase-py against
the local Storage double): archived copies removed or overwritten after step 6 are
proven again at step 7, kept in the bucket, archived again and deleted by the next run."""

from __future__ import annotations

from pathlib import Path

from mediasync.model import MediaFile, Stage
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.settings import (
    Settings,
)
from tests.bucket.conftest import BUCKET, pipeline_settings
from tests.bucket.test_pipeline_source import jpeg
from tests.fakes.storage_server import FakeStorage

KEYS = [f"phone/2025/0{i + 1}/IMG_{i}.jpg" for i in range(4)]


def _settings(tmp_path: Path, storage: FakeStorage) -> Settings:
    return pipeline_settings(tmp_path, storage, True)


def _steps(settings: Settings, start: int, end: int,
           run_id: str) -> tuple[list[StepReport], dict[str, MediaFile]]:
    ctx = open_context(settings, run_id)
    ctx.ledger.migrate()
    try:
        reports = [step.run(ctx) for step in STEPS[start - 1:end]]
        return reports, {m.source_id: m for m in ctx.ledger.files_where(source=ctx.source.name)}
    finally:
        ctx.ledger.close()
        ctx.source.close()  # type: ignore[attr-defined]


def test_broken_archive_copies_stay_in_the_bucket_until_archived_again(
        tmp_path: Path, storage: FakeStorage) -> None:
    for i, key in enumerate(KEYS):
        storage.put(BUCKET, key, jpeg(i))
    (tmp_path / "nas").mkdir()
    settings = _settings(tmp_path, storage)
    _, rows = _steps(settings, 1, 6, "run-1")
    removed, overwritten = rows[KEYS[0]], rows[KEYS[2]]
    Path(removed.nas_path or "").unlink()
    with open(overwritten.nas_path or "", "r+b") as handle:
        handle.seek(20)
        handle.write(b"7 bytes")

    reports, rows = _steps(settings, 7, 8, "run-2")

    assert "deleted 2 at the source" in reports[0].message
    assert storage.keys(BUCKET) == {KEYS[0], KEYS[2]}
    assert "is missing" in (rows[KEYS[0]].error or "")
    assert "no longer reads back" in (rows[KEYS[2]].error or "")
    assert {rows[k].workflow_stage for k in (KEYS[0], KEYS[2])} == {Stage.DOWNLOADED}

    reports, rows = _steps(settings, 1, 8, "run-3")

    assert "deleted 2 at the source" in reports[6].message
    assert storage.keys(BUCKET) == set()
    assert all(Path(m.nas_path or "").read_bytes() == jpeg(KEYS.index(k))
               for k, m in rows.items())
