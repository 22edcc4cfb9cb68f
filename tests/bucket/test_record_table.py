"""The PostgREST record table, through supabase-py, against a PostgREST-speaking fake."""

from __future__ import annotations

import httpx
import pytest

from mediasync.bucket.record_table import PostgrestRecordTable
from mediasync.errors import AuthError, TableError
from tests.bucket.conftest import KEY, TABLE, rest_client
from tests.fakes.postgrest_table_server import FakePostgrest, parse_in_list


def table_on(rest: FakePostgrest, key: str | None = None, **kw: int) -> PostgrestRecordTable:
    client = rest_client(rest.url, key) if key else rest_client(rest.url)
    return PostgrestRecordTable(client, TABLE, "file_path", "signed_url", **kw)


def test_records_page_past_the_servers_row_cap(rest: FakePostgrest) -> None:
    rest.max_rows = 300  # the server answers fewer rows than asked for
    rows = rest.tables[TABLE]
    for i in range(1234):
        rows.add({"file_path": f"p/{i:05d}.jpg", "signed_url": None if i % 2 else f"u{i}"}, None)
    found = table_on(rest, page_size=1000).records()
    assert len(found) == 1234
    assert found["p/00000.jpg"] == "u0" and found["p/00001.jpg"] is None
    selects = [path for method, path in rest.requests if method == "GET"]
    assert len(selects) == 5 and all("order=file_path.asc" in p for p in selects)


def test_insert_update_delete_in_batches(rest: FakePostgrest) -> None:
    table = table_on(rest, batch_size=100, delete_batch=40)
    keys = [f'odd,name "{i}".jpg' for i in range(250)]  # commas and quotes survive in.(...)
    assert table.insert({key: None for key in keys}) == 250
    assert table.set_urls({key: f"https://x/{i}" for i, key in enumerate(keys[:120])}) == 120
    found = table.records()
    assert found[keys[0]] == "https://x/0" and found[keys[200]] is None
    assert table.delete(keys[:90] + ["never-there"]) == 90
    assert set(table.records()) == set(keys[90:])
    posts = [p for m, p in rest.requests if m == "POST"]
    assert len(posts) == 3 + 2  # 250 rows by 100, then 120 by 100
    assert len([m for m, _ in rest.requests if m == "DELETE"]) == 3  # 91 keys by 40


def test_a_duplicate_insert_is_a_table_error_and_writes_nothing(rest: FakePostgrest) -> None:
    table = table_on(rest)
    table.insert({"a.jpg": None})
    with pytest.raises(TableError, match="duplicate key"):
        table.insert({"b.jpg": None, "a.jpg": None})
    assert set(table.records()) == {"a.jpg"}


def test_wrong_key_is_an_auth_error(rest: FakePostgrest) -> None:
    with pytest.raises(AuthError, match="service key was refused"):
        table_on(rest, key="wrong").records()


def test_unknown_table_is_a_table_error(rest: FakePostgrest) -> None:
    client = rest_client(rest.url)
    with pytest.raises(TableError, match="Could not find the table"):
        PostgrestRecordTable(client, "nope", "file_path", "signed_url").records()


def test_fake_honours_range_headers(rest: FakePostgrest) -> None:
    for i in range(30):
        rest.tables[TABLE].add({"file_path": f"{i:02d}"}, None)
    answer = httpx.get(f"{rest.url}/rest/v1/{TABLE}?select=file_path&order=file_path.desc",
                       headers={"Authorization": f"Bearer {KEY}", "Range": "5-9",
                                "Prefer": "count=exact"})
    assert answer.headers["Content-Range"] == "5-9/30"
    assert [r["file_path"] for r in answer.json()] == ["24", "23", "22", "21", "20"]


def test_in_list_quoting() -> None:
    assert parse_in_list('(a,"b,c","d\\"e",)') == ["a", "b,c", 'd"e', ""]
