"""Issue 22, item 7, on the Storage double through real supabase-py: an object replaced
under the same key is a new version, archived beside the old one; the key is removed only
once the new version is proven, and never on the strength of an older version's proof."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from mediasync.model import MediaFile
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.settings import (
    Settings,
)
from tests.bucket.conftest import BUCKET, pipeline_settings
from tests.bucket.test_pipeline_source import jpeg
from tests.fakes.storage_server import FakeStorage
from tests.helpers import archived_files

PHOTO = "phone/2025/01/IMG_1.jpg"
YEAR_AGO = time.time() - 365 * 86400


def settings(tmp_path: Path, storage: FakeStorage, delete: bool) -> Settings:
    return pipeline_settings(tmp_path, storage, delete)


def run_steps(config: Settings, run_id: str, first: int = 1,
              last: int = 8) -> tuple[list[str], list[MediaFile]]:
    ctx = open_context(config, run_id)
    ctx.ledger.migrate()
    try:
        messages = [step.run(ctx).message for step in STEPS[first - 1:last]]
        return messages, sorted(ctx.ledger.files_where(), key=lambda m: m.id or 0)
    finally:
        ctx.ledger.close()
        ctx.source.close()  # type: ignore[attr-defined]


def test_a_replaced_object_is_archived_beside_the_old_and_removed_once_proven(
        tmp_path: Path, storage: FakeStorage) -> None:
    (tmp_path / "nas").mkdir()
    storage.put(BUCKET, PHOTO, jpeg(1), mtime=YEAR_AGO)
    run_steps(settings(tmp_path, storage, delete=False), "run-1")
    [first] = archived_files(tmp_path / "nas")[sha256_of(jpeg(1))]
    first_read = first.stat().st_mtime_ns

    storage.put(BUCKET, PHOTO, jpeg(2), mtime=YEAR_AGO + 60)
    on = settings(tmp_path, storage, delete=True)
    messages, _ = run_steps(on, "run-2", last=6)
    assert "1 changed at the source, taken as new versions" in messages[0]
    assert PHOTO in storage.keys(BUCKET), "removed before the new version was proven"
    messages, (old, new) = run_steps(on, "run-2", first=7)
    assert "deleted 1 at the source" in messages[0]

    assert PHOTO not in storage.keys(BUCKET)
    archive = archived_files(tmp_path / "nas")
    assert archive[sha256_of(jpeg(1))] == [first] and first.stat().st_mtime_ns == first_read
    assert len(archive[sha256_of(jpeg(2))]) == 1
    assert old.superseded_at_source and old.source_deleted_at is None
    assert (new.source_id, new.content_hash) == (PHOTO, sha256_of(jpeg(2)))
    assert new.source_deleted_at is not None


def test_an_object_replaced_again_after_its_download_is_kept(
        tmp_path: Path, storage: FakeStorage) -> None:
    """Storage removes by key: the delete looks at what the key holds now first."""
    (tmp_path / "nas").mkdir()
    storage.put(BUCKET, PHOTO, jpeg(1), mtime=YEAR_AGO)
    on = settings(tmp_path, storage, delete=True)
    run_steps(on, "run-1", last=6)
    storage.put(BUCKET, PHOTO, jpeg(3), mtime=YEAR_AGO + 60)

    messages, [row] = run_steps(on, "run-1", first=7)
    assert "kept 1 (changed at the source since download)" in messages[0]
    assert storage.keys(BUCKET) == {PHOTO}
    assert row.source_deleted_at is None
    assert "changed at the source since download" in (row.error or "")

    messages, rows = run_steps(on, "run-2")  # the next run takes the new bytes in
    assert "1 changed at the source" in messages[0]
    assert PHOTO not in storage.keys(BUCKET)
    assert {m.content_hash for m in rows} == {sha256_of(jpeg(1)), sha256_of(jpeg(3))}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
