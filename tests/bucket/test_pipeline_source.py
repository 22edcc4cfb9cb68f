"""The bucket as the eight-step flow's source: step 1 downloads from it into incoming/."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr

from mediasync.ledger import open_ledger
from mediasync.model import Stage
from mediasync.pipeline import download
from mediasync.pipeline.context import RunContext
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.settings import (
    BucketSettings,
    Settings,
    SourceSettings,
    WorkflowSettings,
)
from mediasync.sources import build_source
from mediasync.sources.bucket import BucketSource
from tests.bucket.conftest import BUCKET, KEY, payload, pipeline_settings, put
from tests.fakes.storage_server import FakeStorage


def test_step_one_downloads_from_the_bucket_once(tmp_path: Path, storage: FakeStorage) -> None:
    keys = ["cam/2025/01/02/120000.mp4", "cam/2025/01/02/photo.jpg", "notes/README"]
    for key in keys:
        put(storage, key)
    settings = Settings(
        source=SourceSettings(kind="bucket"),
        bucket=BucketSettings(url=storage.url, service_key=SecretStr(KEY), bucket=BUCKET),
        workflow=WorkflowSettings(incoming=tmp_path / "incoming"),
    )
    source = build_source(settings)
    assert isinstance(source, BucketSource)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    ledger.migrate()
    try:
        ctx = RunContext(settings, ledger, source, run_id="r1")
        first = download.run(ctx)
        second = download.run(RunContext(settings, ledger, source, run_id="r2"))
        rows = {m.source_id: m for m in ledger.files_where(source=source.name)}
    finally:
        ledger.close()
        source.close()
    assert (first.done, first.skipped, second.done) == (2, 1, 0)
    assert rows["notes/README"].workflow_stage == Stage.SKIPPED
    for key in keys[:2]:
        assert Path(rows[key].local_path or "").read_bytes() == payload(key)
        assert rows[key].workflow_stage == Stage.DOWNLOADED


def jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 40 % 256, 90, 160)).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.mark.parametrize("delete", [True, False], ids=["source-delete-on", "off"])
def test_all_eight_steps_delete_from_the_bucket_only_what_was_proven(
        tmp_path: Path, storage: FakeStorage, delete: bool) -> None:
    for i in range(3):
        storage.put(BUCKET, f"phone/2025/0{i + 1}/IMG_{i}.jpg", jpeg(i))
    storage.put(BUCKET, "phone/notes.txt", b"not media")
    (tmp_path / "nas").mkdir()
    settings = pipeline_settings(tmp_path, storage, delete)
    ctx = open_context(settings, "run-1")
    ctx.ledger.migrate()
    try:
        reports = [step.run(ctx) for step in STEPS]
        archived = {Path(m.nas_path or "").read_bytes() for m in ctx.ledger.files_where(
            source=ctx.source.name) if m.nas_archived}
    finally:
        ctx.ledger.close()
        ctx.source.close()  # type: ignore[attr-defined]
    assert all(r.failed == 0 for r in reports), [r.as_row() for r in reports]
    assert archived == {jpeg(i) for i in range(3)}
    photos = {f"phone/2025/0{i + 1}/IMG_{i}.jpg" for i in range(3)}
    # the text file was skipped, so never proven: it stays whatever the setting
    assert storage.keys(BUCKET) == {"phone/notes.txt"} | (set() if delete else photos)
