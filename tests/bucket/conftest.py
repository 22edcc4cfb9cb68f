"""A fake Supabase Storage per test, the real supabase-py client against it; a PostgREST
fake for the table side. The flow tests use the session's Prefect API (tests/conftest.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from supabase import Client, create_client
from supabase.lib.client_options import SyncClientOptions

from mediasync.settings import (
    BucketSettings,
    CompressionSettings,
    DeleteGuards,
    LedgerSettings,
    Settings,
    SourceSettings,
    WorkflowSettings,
)
from mediasync.sources.bucket import BucketSource, Retry
from tests.fakes.postgrest_table_server import FakePostgrest
from tests.fakes.storage_server import FakeStorage

BUCKET = "media"
TABLE = "part_images"
KEY = "service-role-key-for-tests"
DAY = 86400.0
FAST_RETRY = Retry(attempts=3, first_wait=0.01, max_wait=0.05)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[FakeStorage]:
    with FakeStorage(tmp_path / "remote", BUCKET, KEY) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, storage: FakeStorage) -> Settings:
    return make_settings(tmp_path, storage)


def make_settings(tmp_path: Path, storage: FakeStorage, **bucket: object) -> Settings:
    section = BucketSettings(url=storage.url, service_key=SecretStr(KEY), bucket=BUCKET,
                             registry=tmp_path / "registry",
                             missing_list=tmp_path / "missing.txt", **bucket)
    return Settings(bucket=section)


@pytest.fixture
def source(settings: Settings) -> Iterator[BucketSource]:
    src = BucketSource.from_settings(settings.bucket, retry=FAST_RETRY)
    yield src
    src.close()


def payload(key: str) -> bytes:
    """Distinct bytes per key, of varying length."""
    return (key.encode() + b"\n") * (1 + len(key) % 7)


def put(storage: FakeStorage, key: str, age_days: float = 0.0) -> None:
    storage.put(BUCKET, key, payload(key), mtime=time.time() - age_days * DAY)


def populate_layout(storage: FakeStorage) -> set[str]:
    """The awkward bucket: 254 objects in nested folders, one folder of exactly 100 entries
    and one of exactly 101, a folder named v1.2, files without an extension, JPGs in the
    other layout, and an empty-folder placeholder. Returns the keys a listing must give."""
    keys = {f"argo/cam1/2025/01/15/{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}.mp4"
            for i in range(0, 99 * 97, 97)}  # + 08/ = exactly 100 entries
    keys |= {f"argo/cam2/2025/01/16/{i:06d}.mp4" for i in range(100)}  # + v1.2/ = exactly 101
    keys |= {"argo/cam2/2025/01/16/v1.2/README", "argo/cam2/2025/01/16/v1.2/notes.txt"}
    keys |= {f"argo/cam1/2025/01/15/08/photo_20250115T08{m:02d}00Z.jpg" for m in range(30)}
    keys |= {f"argo/cam3/2024/12/{d:02d}/120000.mp4" for d in range(1, 21)}
    keys |= {"README", "LICENSE", "data.v2/manifest"}
    for key in keys:
        put(storage, key)
    put(storage, "argo/empty/.emptyFolderPlaceholder")
    assert len(keys) >= 250
    return keys


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


@pytest.fixture
def rest() -> Iterator[FakePostgrest]:
    with FakePostgrest(KEY) as server:
        server.create_table(TABLE, "file_path", "signed_url", "created_at")
        yield server


def rest_client(url: str, key: str = KEY) -> Client:
    return create_client(url, key, options=SyncClientOptions(httpx_client=httpx.Client()))


def write_config(tmp_path: Path, storage: FakeStorage, key: str = KEY, extra: str = "") -> Path:
    config = tmp_path / "mediasync.toml"
    config.write_text(f"""
[bucket]
url = "{storage.url}"
service_key = "{key}"
bucket = "{BUCKET}"
registry = "registry"
retention_days = 14
{extra}
""")
    return config


def pipeline_settings(tmp_path: Path, storage: FakeStorage, delete: bool) -> Settings:
    """The bucket as the pipeline's source, every folder under tmp_path, compression off,
    no keep-recent guard."""
    return Settings(
        source=SourceSettings(kind="bucket", delete=delete),
        bucket=BucketSettings(url=storage.url, service_key=SecretStr(KEY), bucket=BUCKET),
        workflow=WorkflowSettings(incoming=tmp_path / "w/incoming",
                                  pixel_sync=tmp_path / "w/pixel", nas_archive=tmp_path / "nas",
                                  processing=tmp_path / "w/processing",
                                  compressed=tmp_path / "nas_compressed",
                                  icloud_delete=tmp_path / "w/delete"),
        guards=DeleteGuards(keep_recent_days=0, delete_interval_seconds=0),
        compression=CompressionSettings(enabled=False),
        ledger=LedgerSettings(url=f"sqlite:///{tmp_path / 'ledger.db'}"),
    )
