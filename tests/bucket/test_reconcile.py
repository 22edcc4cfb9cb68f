"""bucket reconcile: 4,000 objects against a table of 196 records and a few orphans."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mediasync.bucket_reconcile import needs_url, repair, take_stock, url_expires_at
from mediasync.record_table import PostgrestRecordTable
from mediasync.settings import Settings
from mediasync.sources.bucket import BucketSource
from tests.bucket.conftest import BUCKET, TABLE, payload
from tests.fakes.postgrest_table_server import FakePostgrest
from tests.fakes.storage_server import FakeStorage

ORPHANS = [f"parts/gone/{i}.jpg" for i in range(7)]


@pytest.fixture
def parts(storage: FakeStorage, rest: FakePostgrest, source: BucketSource) -> list[str]:
    """4,000 objects (3,900 JPGs, 100 PNGs); 196 of them recorded (some with a good URL,
    some with none, some about to expire); 7 orphaned records."""
    storage.upstreams["/rest/v1/"] = rest.url  # one project URL, as behind Supabase's gateway
    keys = [f"parts/{i // 500:02d}/{i:05d}.{'png' if i % 40 == 0 else 'jpg'}"
            for i in range(4000)]
    for key in keys:
        storage.put(BUCKET, key, payload(key))
    good = source.sign(keys[:60], 30 * 86400).urls
    expiring = source.sign(keys[60:120], 600).urls
    rows = rest.tables[TABLE]
    for i, key in enumerate(keys[:196]):
        rows.add({"file_path": key, "signed_url": good.get(key) or expiring.get(key)
                  or (None if i % 2 else "https://example.invalid/not-signed")}, None)
    for key in ORPHANS:
        rows.add({"file_path": key, "signed_url": None}, None)
    storage.batch_sizes["sign"].clear()
    return keys


def table_for(source: BucketSource, settings: Settings) -> PostgrestRecordTable:
    return PostgrestRecordTable.from_settings(source.connection, settings.bucket)


def test_analysis_counts_what_differs(parts: list[str], source: BucketSource,
                                      settings: Settings) -> None:
    analysis = take_stock(source, table_for(source, settings), settings.bucket)
    assert analysis.by_extension == {"jpg": 3900, "png": 100}
    assert (analysis.objects, analysis.records) == (4000, 203)
    assert len(analysis.missing) == 3804
    assert analysis.orphans == sorted(ORPHANS)
    assert len(analysis.to_sign) == 196 - 60  # all but the good URLs


def test_repair_inserts_and_signs_all_but_keeps_orphans_without_apply(
        parts: list[str], storage: FakeStorage, rest: FakePostgrest, source: BucketSource,
        settings: Settings) -> None:
    table = table_for(source, settings)
    analysis = take_stock(source, table, settings.bucket)
    result = repair(source, table, analysis, settings.bucket, remove_orphans=False, dry_run=False)
    assert result.inserted == 3804 and result.sign_errors == {}
    assert all(size <= 1000 for size in storage.batch_sizes["sign"])
    assert sum(storage.batch_sizes["sign"]) == 3804 + 136
    records = table.records()
    deadline = datetime.now(UTC) + timedelta(days=1)
    assert {k for k in parts if not needs_url(records[k], deadline)} == set(parts)
    assert set(records) == set(parts) | set(ORPHANS)
    after = take_stock(source, table, settings.bucket)
    assert (after.missing, after.to_sign, after.orphans) == ([], [], sorted(ORPHANS))


def test_orphans_go_only_with_apply(parts: list[str], source: BucketSource,
                                    settings: Settings) -> None:
    table = table_for(source, settings)
    analysis = take_stock(source, table, settings.bucket)
    result = repair(source, table, analysis, settings.bucket, remove_orphans=True, dry_run=False)
    assert result.orphans_removed == 7
    assert set(table.records()) == set(parts)


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
    url = table.records()[parts[3999]]
    assert url is not None
    assert httpx.get(url).content == payload(parts[3999])
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


@pytest.mark.parametrize("url", [None, "", "https://x/y.jpg", "https://x/y?token=abc",
                                 "https://x/y?token=a.bm90anNvbg.c"])
def test_urls_without_a_readable_expiry_are_renewed(url: str | None) -> None:
    assert needs_url(url, datetime.now(UTC))
