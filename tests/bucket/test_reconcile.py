"""bucket reconcile: 4,000 objects against a table of 196 records and a few orphans."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mediasync.bucket.reconcile import needs_url, repair, take_stock, url_expires_at
from mediasync.bucket.record_table import PostgrestRecordTable
from mediasync.settings import Settings
from mediasync.sources.bucket import BucketSource
from tests.bucket.conftest import BUCKET, FAST_RETRY, TABLE, make_settings, payload, put
from tests.fakes.postgrest_table_server import FakePostgrest
from tests.fakes.storage_server import FakeStorage

ORPHANS = [f"parts/gone/{i}.jpg" for i in range(7)]


def seed(storage: FakeStorage, rest: FakePostgrest, source: BucketSource, objects: int,
         recorded: int) -> list[str]:
    """`objects` objects (one PNG in 40, JPGs otherwise), the first `recorded` of them in the
    table (a third with a good URL, a third about to expire, the rest with none or a URL that
    is not signed), and the ORPHANS."""
    storage.upstreams["/rest/v1/"] = rest.url  # one project URL, as behind Supabase's gateway
    keys = [f"parts/{i // 500:02d}/{i:05d}.{'png' if i % 40 == 0 else 'jpg'}"
            for i in range(objects)]
    for key in keys:
        storage.put(BUCKET, key, payload(key))
    third = recorded // 3
    good = source.sign(keys[:third], 30 * 86400).urls
    expiring = source.sign(keys[third:2 * third], 600).urls
    rows = rest.tables[TABLE]
    for i, key in enumerate(keys[:recorded]):
        rows.add({"file_path": key, "signed_url": good.get(key) or expiring.get(key)
                  or (None if i % 2 else "https://example.invalid/not-signed")}, None)
    for key in ORPHANS:
        rows.add({"file_path": key, "signed_url": None}, None)
    storage.batch_sizes["sign"].clear()
    return keys


@pytest.fixture
def parts(storage: FakeStorage, rest: FakePostgrest, source: BucketSource) -> list[str]:
    return seed(storage, rest, source, objects=400, recorded=30)


def table_for(source: BucketSource, settings: Settings) -> PostgrestRecordTable:
    return PostgrestRecordTable.from_settings(source.connection, settings.bucket)


def test_4000_objects_196_records(storage: FakeStorage, rest: FakePostgrest,
                                  source: BucketSource, settings: Settings) -> None:
    """The table that saw only the first 100 objects: every missing record inserted, every
    record signed, the orphans found, and removed only when asked."""
    keys = seed(storage, rest, source, objects=4000, recorded=196)
    table = table_for(source, settings)
    analysis = take_stock(source, table, settings.bucket)
    assert analysis.by_extension == {"jpg": 3900, "png": 100}
    assert (analysis.objects, analysis.records) == (4000, 203)
    assert len(analysis.missing) == 3804
    assert analysis.orphans == sorted(ORPHANS)
    assert len(analysis.to_sign) == 196 - 65  # all but the good URLs

    result = repair(source, table, analysis, settings.bucket, remove_orphans=False, dry_run=False)
    assert result.inserted == 3804 and result.sign_errors == {}
    assert sum(storage.batch_sizes["sign"]) == 3804 + 131
    assert max(storage.batch_sizes["sign"]) == 1000
    records = table.records()
    deadline = datetime.now(UTC) + timedelta(days=1)
    assert [k for k in keys if needs_url(records[k], deadline)] == []
    assert set(records) == set(keys) | set(ORPHANS)  # orphans kept without apply

    after = take_stock(source, table, settings.bucket)
    assert (after.missing, after.to_sign, after.orphans) == ([], [], sorted(ORPHANS))
    applied = repair(source, table, after, settings.bucket, remove_orphans=True, dry_run=False)
    assert applied.orphans_removed == 7 and applied.inserted == 0
    assert set(table.records()) == set(keys)


def test_dry_run_changes_nothing(parts: list[str], storage: FakeStorage, rest: FakePostgrest,
                                 source: BucketSource, settings: Settings) -> None:
    table = table_for(source, settings)
    before = table.records()
    analysis = take_stock(source, table, settings.bucket)
    rest.requests.clear()
    repair(source, table, analysis, settings.bucket, remove_orphans=True, dry_run=True)
    assert rest.requests == [] and storage.batch_sizes["sign"] == []
    assert table.records() == before


def test_signed_urls_fetch_the_object(parts: list[str], source: BucketSource,
                                      settings: Settings) -> None:
    table = table_for(source, settings)
    repair(source, table, take_stock(source, table, settings.bucket), settings.bucket,
           remove_orphans=False, dry_run=False)
    url = table.records()[parts[-1]]
    assert url is not None
    assert httpx.get(url).content == payload(parts[-1])
    expires = url_expires_at(url)
    assert expires is not None
    assert abs(expires.timestamp() - time.time() - settings.bucket.signed_url_seconds) < 60


def test_empty_listing_never_removes_records(tmp_path: Path, storage: FakeStorage,
                                             rest: FakePostgrest, source: BucketSource,
                                             settings: Settings) -> None:
    storage.upstreams["/rest/v1/"] = rest.url
    rest.tables[TABLE].add({"file_path": "a.jpg", "signed_url": None}, None)
    table = table_for(source, settings)
    analysis = take_stock(source, table, settings.bucket)
    result = repair(source, table, analysis, settings.bucket, remove_orphans=True, dry_run=False)
    assert result.orphans_refused and result.orphans_removed == 0
    assert table.records() == {"a.jpg": None}


def test_records_outside_the_prefix_are_not_orphans(tmp_path: Path, storage: FakeStorage,
                                                    rest: FakePostgrest) -> None:
    storage.upstreams["/rest/v1/"] = rest.url
    put(storage, "parts/a.jpg")
    put(storage, "other/b.jpg")
    for key in ("parts/a.jpg", "parts/gone.jpg", "other/b.jpg", "other/gone.jpg"):
        rest.tables[TABLE].add({"file_path": key}, None)
    settings = make_settings(tmp_path, storage, prefix="parts")
    source = BucketSource.from_settings(settings.bucket, retry=FAST_RETRY)
    try:
        analysis = take_stock(source, table_for(source, settings), settings.bucket)
    finally:
        source.close()
    assert analysis.orphans == ["parts/gone.jpg"] and analysis.missing == []


@pytest.mark.parametrize("url", [None, "", "https://x/y.jpg", "https://x/y?token=abc",
                                 "https://x/y?token=a.bm90anNvbg.c"])
def test_urls_without_a_readable_expiry_are_renewed(url: str | None) -> None:
    assert needs_url(url, datetime.now(UTC))
