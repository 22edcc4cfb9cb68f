"""bucket sync: mirror, missing list, health check, retention."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mediasync.bucket.registry import check_registry
from mediasync.bucket.sync import SyncJob, SyncReport, retention, run_sync
from mediasync.settings import RetentionRule, Settings
from mediasync.sources.bucket import BucketSource, Retry
from tests.bucket.conftest import (
    BUCKET,
    FAST_RETRY,
    make_settings,
    payload,
    populate_layout,
    put,
    tree,
)
from tests.fakes.storage_server import FakeStorage


def job_for(settings: Settings, source: BucketSource, apply: bool | None = None) -> SyncJob:
    return SyncJob.from_settings(settings, source, apply=apply)


def sync_once(settings: Settings, apply: bool | None = None, retry: Retry = FAST_RETRY,
              now: datetime | None = None) -> SyncReport:
    """One sync with its own source, as a command runs it."""
    source = BucketSource.from_settings(settings.bucket, retry=retry)
    try:
        return run_sync(job_for(settings, source, apply=apply), now=now)
    finally:
        source.close()


def test_mirror_is_complete_and_a_second_sync_downloads_nothing(
        storage: FakeStorage, settings: Settings, source: BucketSource) -> None:
    keys = populate_layout(storage)
    seen: list[tuple[int, int]] = []
    job = SyncJob.from_settings(settings, source, progress=lambda d, t, w: seen.append((d, t)))
    first = run_sync(job)
    registry = settings.bucket.registry
    assert tree(registry) == {key: payload(key) for key in keys}
    assert first.mirror.downloaded == len(keys) and not first.mirror.failed
    assert first.problems == []
    assert seen[-1] == (len(keys), len(keys))
    assert sorted(settings.bucket.missing_list.read_text().split()) == sorted(keys)

    downloads = storage.calls["download"]
    second = run_sync(job)
    assert second.mirror.downloaded == 0 and second.mirror.missing == []
    assert storage.calls["download"] == downloads
    assert settings.bucket.missing_list.read_text() == ""


def test_changed_object_is_fetched_again(storage: FakeStorage, settings: Settings,
                                         source: BucketSource) -> None:
    put(storage, "a/clip.mp4")
    run_sync(job_for(settings, source))
    storage.put(BUCKET, "a/clip.mp4", b"a longer, newer body")
    report = run_sync(job_for(settings, source))
    assert report.mirror.missing == ["a/clip.mp4"]
    assert (settings.bucket.registry / "a/clip.mp4").read_bytes() == b"a longer, newer body"


def test_health_check_lists_missing_and_wrong_sized_copies(
        storage: FakeStorage, settings: Settings, source: BucketSource) -> None:
    for key in ("a/1.mp4", "a/2.mp4", "a/3.mp4"):
        put(storage, key)
    run_sync(job_for(settings, source))
    registry = settings.bucket.registry
    (registry / "a/1.mp4").unlink()
    (registry / "a/2.mp4").write_bytes(b"short")
    problems = check_registry(registry, list(source.list_objects()))
    size = len(payload("a/2.mp4"))
    assert problems == ["a/1.mp4: missing from the registry",
                        f"a/2.mp4: 5 bytes in the registry, {size} in the bucket"]


def test_a_failed_download_is_reported_and_blocks_deletes(
        tmp_path: Path, storage: FakeStorage) -> None:
    settings = make_settings(tmp_path, storage, retention_days=1)
    put(storage, "old/a.mp4", age_days=30)
    put(storage, "new/b.mp4")
    storage.drop_once.update({"new/b.mp4"})
    report = sync_once(settings, apply=True, retry=Retry(attempts=1))
    assert list(report.mirror.failed) == ["new/b.mp4"]
    assert report.retention.refused and report.retention.deleted == []
    assert storage.keys(BUCKET) == {"old/a.mp4", "new/b.mp4"}


# retention -------------------------------------------------------------------------


@pytest.fixture
def aged_bucket(tmp_path: Path, storage: FakeStorage) -> tuple[set[str], set[str]]:
    """1,500 videos older than 14 days and 40 younger ones, all mirrored already (the
    mirror itself is tested above; this keeps the retention tests quick)."""
    old = {f"cam/{i // 100:02d}/{i:04d}.mp4" for i in range(1500)}
    young = {f"cam/new/{i:02d}.mp4" for i in range(40)}
    for key in old:
        put(storage, key, age_days=15 + len(key) % 5)
    for key in young:
        put(storage, key, age_days=13.9)
    for key in old | young:
        copy = tmp_path / "registry" / key
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(payload(key))
    return old, young


def test_retention_deletes_exactly_the_old_in_batches_with_local_copies(
        tmp_path: Path, storage: FakeStorage, aged_bucket: tuple[set[str], set[str]]) -> None:
    old, young = aged_bucket
    settings = make_settings(tmp_path, storage, retention_days=14)
    report = sync_once(settings, apply=True)
    assert report.mirror.downloaded == 0
    assert set(report.retention.deleted) == old
    assert storage.keys(BUCKET) == young
    assert storage.batch_sizes["remove"] == [1000, 500]
    assert set(tree(settings.bucket.registry)) == young
    assert report.retention.local_removed == 1500


def test_retention_is_a_dry_run_by_default(
        tmp_path: Path, storage: FakeStorage, aged_bucket: tuple[set[str], set[str]]) -> None:
    old, young = aged_bucket
    settings = make_settings(tmp_path, storage, retention_days=14)
    report = sync_once(settings)
    assert not report.retention.applied
    assert {obj.key for obj in report.retention.plan.expired} == old
    assert storage.keys(BUCKET) == old | young
    assert storage.calls["remove"] == 0
    assert set(tree(settings.bucket.registry)) == old | young


def test_retention_by_path_reports_unparseable_and_keeps_them(
        tmp_path: Path, storage: FakeStorage) -> None:
    now = datetime(2025, 12, 31, 12, 0, tzinfo=UTC)
    old = {"argo/cam1/2025/12/01/082225.mp4", "argo/cam2/2025/11/30/235959.mp4"}
    young = {"argo/cam1/2025/12/30/101010.mp4"}
    odd = {"argo/cam1/2025/12/01/08/photo_20251201T082225Z.jpg", "argo/README",
           "argo/cam1/2025/02/30/000000.mp4"}
    for key in old | young | odd:
        put(storage, key)  # uploaded just now: only the path can say how old they are
    settings = make_settings(tmp_path, storage, retention_days=14, age_from="path",
                             path_pattern="{device}/{YYYY}/{MM}/{DD}/{HH}{mm}{ss}")
    report = sync_once(settings, apply=True, now=now)
    assert set(report.retention.deleted) == old
    assert sorted(report.retention.plan.unparseable) == sorted(odd)
    assert storage.keys(BUCKET) == young | odd


def test_keep_rule_keeps_a_type_for_ever(tmp_path: Path, storage: FakeStorage) -> None:
    put(storage, "a/old.mp4", age_days=60)
    put(storage, "a/old.jpg", age_days=60)
    put(storage, "a/old.mov", age_days=60)
    settings = make_settings(tmp_path, storage, retention_days=14, retention_rules=[
        RetentionRule(extensions=["jpg"]), RetentionRule(extensions=["mov"], retention_days=90)])
    report = sync_once(settings, apply=True)
    assert report.retention.deleted == ["a/old.mp4"]
    assert report.retention.plan.kept == 2
    assert storage.keys(BUCKET) == {"a/old.jpg", "a/old.mov"}


def test_keeping_local_copies_deletes_only_what_is_safely_mirrored(
        tmp_path: Path, storage: FakeStorage) -> None:
    put(storage, "a/old.mp4", age_days=60)
    settings = make_settings(tmp_path, storage, retention_days=14, remove_local_copies=False)
    source = BucketSource.from_settings(settings.bucket, retry=FAST_RETRY)
    job = job_for(settings, source, apply=True)
    try:
        objects = list(source.list_objects())
        refused = retention(job, objects, healthy=True)  # nothing mirrored yet
        assert refused.deleted == [] and list(refused.skipped) == ["a/old.mp4"]
        report = run_sync(job)
    finally:
        source.close()
    assert report.retention.deleted == ["a/old.mp4"]
    assert storage.keys(BUCKET) == set()
    assert (settings.bucket.registry / "a/old.mp4").read_bytes() == payload("a/old.mp4")


def test_more_expired_than_the_cap_deletes_nothing(tmp_path: Path, storage: FakeStorage) -> None:
    for i in range(5):
        put(storage, f"a/{i}.mp4", age_days=60)
    settings = make_settings(tmp_path, storage, retention_days=14, max_retention_deletes=4)
    report = sync_once(settings, apply=True)
    assert report.retention.refused and "max_retention_deletes (4)" in report.retention.refused
    assert len(storage.keys(BUCKET)) == 5 and storage.calls["remove"] == 0


def test_no_retention_configured_deletes_nothing(storage: FakeStorage, settings: Settings,
                                                 source: BucketSource) -> None:
    put(storage, "ancient.mp4", age_days=3650)
    report = run_sync(job_for(settings, source, apply=True))
    assert report.retention.deleted == [] and report.retention.plan.kept == 1
    assert storage.keys(BUCKET) == {"ancient.mp4"}
