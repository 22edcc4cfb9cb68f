"""Step 7's batch on a bucket, through supabase-py against the Storage double: a key
counts as deleted only when Storage's answer lists it; a key it leaves out stays, with
that answer in the ledger, and the rest of the batch is deleted (issue 22)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from mediasync.ledger.sqlite import SqliteLedger
from mediasync.model import MediaFile
from mediasync.pipeline.context import RunContext
from mediasync.pipeline.delete_at_source import _delete_batch
from mediasync.settings import Settings
from mediasync.sources.bucket import NOT_REMOVED, BucketSource
from tests.bucket.conftest import BUCKET, payload, put
from tests.fakes.storage_server import FakeStorage

KEYS = ["2024/A.jpg", "2024/B.jpg", "2024/C.jpg", "top.jpg", "2025/x/D.jpg"]
# B: Storage leaves it out of its answer; C: gone before step 7 listed its folder
KEPT = {"2024/B.jpg": NOT_REMOVED, "2024/C.jpg": "not found in the bucket"}


@pytest.fixture
def ctx(settings: Settings, source: BucketSource) -> Iterator[RunContext]:
    ledger = SqliteLedger(None)
    yield RunContext(settings=settings, ledger=ledger, source=source, run_id="run-1")
    ledger.close()


def _recorded(ctx: RunContext, storage: FakeStorage) -> list[MediaFile]:
    """Objects in the bucket, archived and recorded as step 6 leaves them."""
    rows = []
    for key in KEYS:
        put(storage, key)
        digest = hashlib.sha256(payload(key)).hexdigest()
        rows.append(MediaFile(source=ctx.source.name, source_id=key, filename=key,
                              content_hash=digest, nas_hash=digest, nas_path=f"/nas/{key}",
                              nas_archived=True, size=len(payload(key))))
    return ctx.ledger.add_files(rows, run_id="run-1")


def test_keys_storage_does_not_list_as_removed_are_kept_with_its_answer(
        ctx: RunContext, storage: FakeStorage) -> None:
    files = _recorded(ctx, storage)
    storage.undeletable.add("2024/B.jpg")
    storage.remove(BUCKET, ["2024/C.jpg"])  # gone before step 7 asked: not its delete

    outcomes = _delete_batch(ctx, files)

    assert {o.source_id for o in outcomes if o.deleted} == {"2024/A.jpg", "top.jpg",
                                                            "2025/x/D.jpg"}
    assert storage.keys(BUCKET) == {"2024/B.jpg"}
    for media in files:
        [proof] = ctx.ledger.deletions(media.id)  # type: ignore[arg-type]
        row = ctx.ledger.get(media.id)  # type: ignore[arg-type]
        assert row is not None
        if media.source_id in KEPT:
            answer = KEPT[media.source_id]
            assert (proof.state, proof.answer) == ("kept", answer)
            assert row.error == f"not deleted at the source: {answer}"
            assert row.source_deleted_at is None
        else:
            assert (proof.state, proof.answer) == ("confirmed", None)
            assert row.source_deleted_at is not None
    assert ctx.ledger.open_intents(ctx.source.name) == []


def test_still_present_lists_each_folder_once(ctx: RunContext, storage: FakeStorage) -> None:
    files = _recorded(ctx, storage)
    storage.remove(BUCKET, ["2024/A.jpg", "2025/x/D.jpg"])
    before = storage.calls["list"]
    assert ctx.source.still_present(files) == {"2024/B.jpg", "2024/C.jpg", "top.jpg"}  # type: ignore[attr-defined]
    assert storage.calls["list"] - before == 3  # 2024, the root, 2025/x
