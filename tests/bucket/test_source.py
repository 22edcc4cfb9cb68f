"""The bucket source: complete listings, downloads that survive the network, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mediasync.errors import AuthError, DownloadMismatch, SourceError
from mediasync.model import MediaFile, MediaType
from mediasync.settings import BucketSettings
from mediasync.sources.base import Source, SourceHealth
from mediasync.sources.bucket import BucketObject, BucketSource
from tests.bucket.conftest import BUCKET, FAST_RETRY, KEY, payload, populate_layout, put
from tests.fakes.storage_server import FakeStorage


@pytest.mark.parametrize("list_v2", [True, False], ids=["list-v2", "folder-walk"])
def test_listing_is_complete_in_the_awkward_layout(storage: FakeStorage, source: BucketSource,
                                                   list_v2: bool) -> None:
    storage.list_v2 = list_v2
    expected = populate_layout(storage)
    listed = list(source.list_objects())
    assert sorted(obj.key for obj in listed) == sorted(expected)
    assert all(obj.size == len(payload(obj.key)) for obj in listed)
    assert storage.calls["list" if not list_v2 else "list_v2"] > 0


def test_folder_walk_pages_past_100_entries(storage: FakeStorage, source: BucketSource) -> None:
    storage.list_v2 = False
    for i in range(101):
        put(storage, f"big/{i:03d}")  # extensionless names are files all the same
    keys = [obj.key for obj in source.list_objects()]
    assert len(keys) == 101
    # the root, then big/ in two pages of 100 and 1
    assert storage.calls["list"] == 3


def test_folder_with_exactly_one_page_asks_once_more(storage: FakeStorage,
                                                     source: BucketSource) -> None:
    storage.list_v2 = False
    for i in range(100):
        put(storage, f"full/{i:03d}.mp4")
    assert len(list(source.list_objects())) == 100
    assert storage.calls["list"] == 3  # root, a full page, an empty page


@pytest.mark.parametrize("list_v2", [True, False], ids=["list-v2", "folder-walk"])
def test_unknown_bucket_is_a_clear_error(storage: FakeStorage, list_v2: bool) -> None:
    storage.list_v2 = list_v2
    src = BucketSource.from_settings(_section(storage, bucket="nope"), retry=FAST_RETRY)
    try:
        with pytest.raises(SourceError, match="has no bucket 'nope' that this key can see"):
            list(src.list_objects())
    finally:
        src.close()


def test_dotted_folders_and_extensionless_files_are_told_apart(storage: FakeStorage,
                                                               source: BucketSource) -> None:
    storage.list_v2 = False
    put(storage, "v1.2/README")
    put(storage, "v1.2/sub.dir/clip.mp4")
    put(storage, "Makefile")
    keys = {obj.key for obj in source.list_objects()}
    assert keys == {"v1.2/README", "v1.2/sub.dir/clip.mp4", "Makefile"}


def test_placeholders_are_not_objects(storage: FakeStorage, source: BucketSource) -> None:
    put(storage, "empty/.emptyFolderPlaceholder")
    put(storage, "a/b.jpg")
    assert [obj.key for obj in source.list_objects()] == ["a/b.jpg"]


def test_prefix_limits_the_listing(tmp_path: Path, storage: FakeStorage) -> None:
    put(storage, "keep/a.mp4")
    put(storage, "other/b.mp4")
    src = BucketSource.from_settings(_section(storage, prefix="keep"), retry=FAST_RETRY)
    try:
        assert [obj.key for obj in src.list_objects()] == ["keep/a.mp4"]
    finally:
        src.close()


def test_download_is_whole_and_hashed(tmp_path: Path, storage: FakeStorage,
                                      source: BucketSource) -> None:
    put(storage, "v/clip one.mp4")
    obj = next(source.list_objects())
    got = source.download_object(obj, tmp_path / "out" / "clip.mp4")
    assert got.path.read_bytes() == payload("v/clip one.mp4")
    assert got.size == obj.size


def test_dropped_connection_is_retried(tmp_path: Path, storage: FakeStorage,
                                       source: BucketSource) -> None:
    put(storage, "v/long.mp4")
    storage.drop_once.add("v/long.mp4")
    obj = next(source.list_objects())
    got = source.download_object(obj, tmp_path / "out" / "long.mp4")
    assert got.path.read_bytes() == payload("v/long.mp4")
    assert storage.calls["download"] == 2
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["long.mp4"]


def test_unavailable_storage_is_retried(storage: FakeStorage, source: BucketSource) -> None:
    put(storage, "a.mp4")
    storage.unavailable = 2
    assert [obj.key for obj in source.list_objects()] == ["a.mp4"]
    assert storage.calls["requests"] == 4  # 503 twice, the bucket, its one page
    assert source.throttled == 2  # the deletion circuit breaker reads this


def test_source_health_counts_what_the_bucket_holds(storage: FakeStorage,
                                                    source: BucketSource) -> None:
    for i in range(1001):
        put(storage, f"n/{i}")
    put(storage, "n/.emptyFolderPlaceholder")
    assert isinstance(source, SourceHealth)
    assert source.count_assets() == 1001 and source.throttled == 0


def test_unavailable_for_good_is_a_retryable_source_error(storage: FakeStorage,
                                                          source: BucketSource) -> None:
    storage.unavailable = 100
    with pytest.raises(SourceError) as caught:
        list(source.list_objects())
    assert caught.value.retryable and "503" in str(caught.value)
    assert storage.calls["requests"] == FAST_RETRY.attempts


def test_size_mismatch_leaves_nothing(tmp_path: Path, storage: FakeStorage,
                                      source: BucketSource) -> None:
    put(storage, "v/a.mp4")
    wrong = BucketObject("v/a.mp4", size=10**6)
    out = tmp_path / "out"
    with pytest.raises(DownloadMismatch):
        source.download_object(wrong, out / "a.mp4")
    assert list(out.iterdir()) == []
    assert storage.calls["download"] == 1  # a mismatch is not retried as if transient


def test_bad_key_stops_with_one_clear_line(storage: FakeStorage) -> None:
    put(storage, "a.mp4")
    src = BucketSource.from_settings(_section(storage, key="not-the-key"), retry=FAST_RETRY)
    try:
        with pytest.raises(AuthError) as caught:
            list(src.list_objects())
    finally:
        src.close()
    message = str(caught.value)
    assert "rejected the service key" in message and "403" in message
    assert "not-the-key" not in message and "\n" not in message
    assert "not-the-key" not in repr(src.connection)
    assert storage.calls["requests"] == 1  # an auth failure is not retried


def test_bad_key_on_download_is_an_auth_error(tmp_path: Path, storage: FakeStorage) -> None:
    put(storage, "a.mp4")
    src = BucketSource.from_settings(_section(storage, key="not-the-key"), retry=FAST_RETRY)
    try:
        with pytest.raises(AuthError):
            src.download_object(BucketObject("a.mp4", 3), tmp_path / "a.mp4")
    finally:
        src.close()


def test_remove_goes_in_batches_of_at_most_1000(storage: FakeStorage,
                                                source: BucketSource) -> None:
    for i in range(1234):
        storage.put(BUCKET, f"x/{i}", b"x")
    removed = source.remove([f"x/{i}" for i in range(1234)] + ["x/never-there"])
    assert len(removed) == 1234
    assert storage.batch_sizes["remove"] == [1000, 235]
    assert storage.keys(BUCKET) == set()


def test_sign_goes_in_batches_of_at_most_1000(storage: FakeStorage, source: BucketSource) -> None:
    for i in range(1001):
        storage.put(BUCKET, f"s/{i}.jpg", b"x")
    result = source.sign([f"s/{i}.jpg" for i in range(1001)] + ["s/missing.jpg"], 3600)
    assert len(result.urls) == 1001 and list(result.errors) == ["s/missing.jpg"]
    assert storage.batch_sizes["sign"] == [1000, 2]


def test_source_protocol(tmp_path: Path, storage: FakeStorage, source: BucketSource) -> None:
    put(storage, "p/a.jpg")
    put(storage, "p/b.mp4")
    assert isinstance(source, Source) and source.features.can_delete
    assets = {a.source_id: a for a in source.list_assets()}
    assert assets["p/a.jpg"].media_type == MediaType.IMAGE
    assert assets["p/b.mp4"].media_type == MediaType.VIDEO
    got = source.download(assets["p/a.jpg"], tmp_path / "a.jpg")
    assert got.path.read_bytes() == payload("p/a.jpg")
    files = [MediaFile(source.name, "p/a.jpg", "a.jpg"), MediaFile(source.name, "p/gone", "gone")]
    outcomes = source.delete(files)
    assert [(o.source_id, o.deleted) for o in outcomes] == [("p/a.jpg", True), ("p/gone", False)]
    assert storage.keys(BUCKET) == {"p/b.mp4"}


def _section(storage: FakeStorage, key: str = KEY, **extra: Any) -> BucketSettings:
    return BucketSettings(url=storage.url, service_key=SecretStr(key),
                          **{"bucket": BUCKET, **extra})
