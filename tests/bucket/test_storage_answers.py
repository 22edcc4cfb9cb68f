"""mediasync reads Storage as it really answers (tests/recordings/README.md), through
the real supabase-py client against the double: a bucket it cannot see is an error, never
an empty bucket; download errors are judged by the body's `statusCode`; an object
overwritten with other bytes of the same size is taken again; signed URLs of keys that
need escaping work."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr
from typer.testing import CliRunner

from mediasync.bucket.sync import SyncJob, run_sync
from mediasync.cli.bucket import app
from mediasync.errors import AuthError, SourceError
from mediasync.ledger import open_ledger
from mediasync.model import MediaFile, Stage
from mediasync.settings import Settings
from mediasync.sources.bucket import BucketSource
from tests.bucket.conftest import (
    BUCKET,
    FAST_RETRY,
    KEY,
    TABLE,
    make_settings,
    payload,
    pipeline_settings,
    put,
    write_config,
)
from tests.bucket.test_new_versions import run_steps, sha256_of
from tests.fakes.postgrest_table_server import FakePostgrest
from tests.fakes.storage_server import FakeStorage

runner = CliRunner()
YEAR_AGO = time.time() - 365 * 86400


# a bucket the key cannot list -----------------------------------------------------------

@pytest.fixture(params=["missing bucket", "anon key"])
def unseen(request: pytest.FixtureRequest, tmp_path: Path, storage: FakeStorage) -> Path:
    """A config whose bucket lists as empty with 200: it does not exist, or the key is
    the anon key and the bucket private. Either way the bucket holds an object."""
    put(storage, "cam/old.mp4", age_days=30)
    if request.param == "missing bucket":
        config = write_config(tmp_path, storage)
        config.write_text(config.read_text().replace(f'bucket = "{BUCKET}"',
                                                     'bucket = "not-there"'))
        return config
    return write_config(tmp_path, storage, key=storage.anon_key)


def test_sync_of_a_bucket_the_key_cannot_see_is_one_clear_error(
        unseen: Path, storage: FakeStorage) -> None:
    result = runner.invoke(app, ["sync", "--config", str(unseen), "--apply"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "that this key can see" in line and "service_role" in line
    assert "objects listed" not in result.output and "retention" not in result.output
    assert storage.anon_key not in result.output
    assert storage.keys(BUCKET) == {"cam/old.mp4"}


@pytest.mark.parametrize("change", [{"bucket": "not-there"}, {"service_key": "anon"}],
                         ids=["missing bucket", "anon key"])
def test_the_pipeline_halts_on_a_bucket_the_key_cannot_see(
        tmp_path: Path, storage: FakeStorage, change: dict[str, str]) -> None:
    put(storage, "cam/IMG_1.jpg")
    settings = pipeline_settings(tmp_path, storage, delete=True)
    if "service_key" in change:
        change = {"service_key": SecretStr(storage.anon_key)}  # type: ignore[dict-item]
    settings.bucket = settings.bucket.model_copy(update=change)
    with pytest.raises(SourceError, match="has no bucket '.*' that this key can see"):
        run_steps(settings, "run-1", last=1)
    assert storage.keys(BUCKET) == {"cam/IMG_1.jpg"}


# download errors, read from the body's statusCode ------------------------------------------

def test_a_key_refused_after_the_listing_stops_the_sync(tmp_path: Path,
                                                        storage: FakeStorage) -> None:
    for i in range(6):
        put(storage, f"cam/{i}.mp4", age_days=30)
    settings = make_settings(tmp_path, storage, retention_days=1, parallelism=1)

    def revoke(done: int, total: int, what: str) -> None:
        storage.service_key = "rotated-" + KEY  # downloads get 400 with "403" in the body

    source = BucketSource.from_settings(settings.bucket, retry=FAST_RETRY)
    try:
        with pytest.raises(AuthError, match="rejected the service key .403"):
            run_sync(SyncJob.from_settings(settings, source, apply=True, progress=revoke))
    finally:
        source.close()
    assert storage.calls["remove"] == 0 and len(storage.keys(BUCKET)) == 6
    assert not any(path.is_file() for path in settings.bucket.registry.rglob("*"))


def test_an_object_gone_before_its_download_fails_alone_in_sync(
        tmp_path: Path, storage: FakeStorage) -> None:
    for key in ("cam/a.mp4", "cam/b.mp4", "cam/c.mp4"):
        put(storage, key)
    storage.gone_on_download.add("cam/b.mp4")
    result = runner.invoke(app, ["sync", "--config", str(write_config(tmp_path, storage)),
                                 "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert summary["downloaded"] == 2
    assert summary["failed"] == {"cam/b.mp4": "cam/b.mp4: not in bucket 'media' any more "
                                              "(404 NoSuchKey)"}
    assert summary["retention"]["refused"]


def test_an_object_gone_before_its_download_fails_alone_in_the_pipeline(
        tmp_path: Path, storage: FakeStorage) -> None:
    for key in ("cam/a.jpg", "cam/b.jpg", "cam/c.jpg"):
        put(storage, key)
    storage.gone_on_download.add("cam/b.jpg")
    messages, rows = run_steps(pipeline_settings(tmp_path, storage, delete=False), "run-1",
                               last=1)
    assert "2 downloaded, 1 failed" in messages[0]
    failed = {m.source_id: m.error for m in rows if m.workflow_stage == Stage.FAILED}
    assert failed == {"cam/b.jpg": "cam/b.jpg: not in bucket 'media' any more (404 NoSuchKey)"}


# an object overwritten with bytes of the same size ----------------------------------------

def jpeg(version: int) -> bytes:
    """The same picture, its comment saying which version: same size, other bytes."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 160)).save(out, "JPEG", quality=90,
                                                   comment=f"version {version}".encode())
    return out.getvalue()


def test_sync_takes_a_same_size_overwrite_again(tmp_path: Path, storage: FakeStorage,
                                                settings: Settings) -> None:
    assert len(jpeg(1)) == len(jpeg(2)) and jpeg(1) != jpeg(2)
    storage.put(BUCKET, "cam/a.jpg", jpeg(1), mtime=YEAR_AGO)
    source = BucketSource.from_settings(settings.bucket, retry=FAST_RETRY)
    try:
        run_sync(SyncJob.from_settings(settings, source))
        again = run_sync(SyncJob.from_settings(settings, source))
        assert again.mirror.missing == []  # unchanged: not downloaded twice
        storage.put(BUCKET, "cam/a.jpg", jpeg(2), mtime=YEAR_AGO + 60)
        report = run_sync(SyncJob.from_settings(settings, source))
    finally:
        source.close()
    assert report.mirror.missing == ["cam/a.jpg"] and report.mirror.downloaded == 1
    assert (settings.bucket.registry / "cam/a.jpg").read_bytes() == jpeg(2)


def test_the_pipeline_takes_a_same_size_overwrite_as_a_new_version(
        tmp_path: Path, storage: FakeStorage) -> None:
    (tmp_path / "nas").mkdir()
    photo = "phone/2025/01/IMG_1.jpg"
    storage.put(BUCKET, photo, jpeg(1), mtime=YEAR_AGO)
    run_steps(pipeline_settings(tmp_path, storage, delete=False), "run-1")
    storage.put(BUCKET, photo, jpeg(2), mtime=YEAR_AGO + 60)

    on = pipeline_settings(tmp_path, storage, delete=True)
    messages, (old, new) = run_steps(on, "run-2")
    assert "1 changed at the source, taken as new versions" in messages[0]
    assert (old.content_hash, new.content_hash) == (sha256_of(jpeg(1)), sha256_of(jpeg(2)))
    assert photo not in storage.keys(BUCKET)  # the new version, proven, is deleted
    assert new.source_deleted_at is not None
    # the old version's bytes are gone at the source: its delete is refused, and recorded
    assert old.superseded_at_source and old.source_deleted_at is None
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    try:
        assert old.id is not None
        details = [event.detail or "" for event in ledger.events(old.id)]
    finally:
        ledger.close()
    assert any("superseded at the source" in detail and "never deleted at the source" in detail
               for detail in details)


# signed URLs of keys that need escaping --------------------------------------------------

ODD_KEYS = ["odd/what?.jpg", "odd/with space.jpg", "odd/plus+sign.jpg",
            "odd/a b?c+d&e=f;g,h$i@j:k'l(m)!n*.jpg"]


def test_signed_urls_of_keys_that_need_escaping_work(tmp_path: Path, storage: FakeStorage,
                                                     rest: FakePostgrest) -> None:
    storage.upstreams["/rest/v1/"] = rest.url
    for key in ODD_KEYS:
        put(storage, key)
    config = write_config(tmp_path, storage)
    first = runner.invoke(app, ["reconcile", "--config", str(config), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["inserted"] == len(ODD_KEYS)
    urls = {row["file_path"]: row["signed_url"] for row in rest.tables[TABLE].rows}
    with httpx.Client() as http:
        for key in ODD_KEYS:
            answer = http.get(urls[key])
            assert answer.status_code == 200, (key, answer.text)
            assert answer.content == payload(key)

    second = runner.invoke(app, ["reconcile", "--config", str(config), "--json"])
    assert json.loads(second.output)["signed"] == 0  # good URLs are not signed again


def test_a_key_that_cannot_see_the_bucket_never_confirms_a_delete(
        tmp_path: Path, storage: FakeStorage) -> None:
    """Asked whether interrupted deletes went through, an empty listing would say "gone"
    for every key: the bucket is asked for first, and the answer is an error."""
    put(storage, "cam/a.jpg")
    settings = make_settings(tmp_path, storage)
    anon = settings.bucket.model_copy(update={"service_key": SecretStr(storage.anon_key)})
    source = BucketSource.from_settings(anon, retry=FAST_RETRY)
    try:
        with pytest.raises(SourceError, match="that this key can see"):
            source.still_present([MediaFile(source.name, "cam/a.jpg", "a.jpg")])
    finally:
        source.close()
