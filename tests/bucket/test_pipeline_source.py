"""The bucket as the eight-step flow's source: step 1 downloads from it into incoming/."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from mediasync.ledger import open_ledger
from mediasync.model import Stage
from mediasync.pipeline import download
from mediasync.pipeline.context import RunContext
from mediasync.settings import BucketSettings, Settings, SourceSettings, WorkflowSettings
from mediasync.sources import build_source
from mediasync.sources.bucket import BucketSource
from tests.bucket.conftest import BUCKET, KEY, payload, put
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
