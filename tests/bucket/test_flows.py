"""The bucket-sync and bucket-reconcile flows under a real Prefect API."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.bucket_reconcile import bucket_reconcile
from flows.bucket_sync import bucket_sync
from mediasync.errors import AuthError
from tests.bucket.conftest import BUCKET, TABLE, put, write_config
from tests.fakes.postgrest_table_server import FakePostgrest
from tests.fakes.storage_server import FakeStorage

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_bucket_sync_flow_mirrors_and_applies_retention(tmp_path: Path,
                                                        storage: FakeStorage) -> None:
    for i in range(40):
        put(storage, f"cam/{i:02d}.mp4", age_days=30 if i < 10 else 1)
    config = write_config(tmp_path, storage)
    state = bucket_sync(apply=True, config=str(config), return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    assert (summary["listed"], summary["downloaded"]) == (40, 40)
    assert summary["retention"]["deleted"] == 10
    assert len(storage.keys(BUCKET)) == 30
    assert len(list((tmp_path / "registry/cam").iterdir())) == 30


def test_bucket_sync_flow_reports_failed_downloads(tmp_path: Path, storage: FakeStorage) -> None:
    put(storage, "cam/a.mp4", age_days=30)
    storage.put(BUCKET, "cam/b.mp4", b"x" * 10)
    config = write_config(tmp_path, storage)
    (tmp_path / "registry/cam/b.mp4").mkdir(parents=True)  # a folder where the file must go
    state = bucket_sync(apply=True, config=str(config), return_state=True)
    assert state.is_failed() and "1 downloads failed" in (state.message or "")
    assert storage.keys(BUCKET) == {"cam/a.mp4", "cam/b.mp4"}  # no deletes after a failure


def test_bucket_sync_flow_stops_on_a_bad_key(tmp_path: Path, storage: FakeStorage) -> None:
    put(storage, "a.mp4")
    config = write_config(tmp_path, storage, key="wrong")
    with pytest.raises(AuthError, match="rejected the service key"):
        bucket_sync(config=str(config))


def test_bucket_reconcile_flow(tmp_path: Path, storage: FakeStorage,
                               rest: FakePostgrest) -> None:
    storage.upstreams["/rest/v1/"] = rest.url
    for i in range(25):
        put(storage, f"parts/{i:02d}.jpg")
    rest.tables[TABLE].add({"file_path": "parts/orphan.jpg"}, None)
    config = write_config(tmp_path, storage)
    kept = bucket_reconcile(config=str(config))
    assert (kept["inserted"], kept["orphans_removed"]) == (25, 0)
    removed = bucket_reconcile(apply=True, config=str(config))
    assert (removed["missing"], removed["orphans_removed"]) == (0, 1)
    assert len(rest.tables[TABLE].rows) == 25
