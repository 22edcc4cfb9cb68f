"""A table of records kept in step with a bucket: one row per object key, with a URL.

Reconciliation sees the table only through `RecordTable`; `PostgrestRecordTable` is the
implementation over a Supabase project's REST API (supabase-py), reading in pages with an
exact count (PostgREST caps every answer at its max-rows) and writing in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

import httpx
from postgrest import APIError, APIResponse, CountMethod
from supabase import Client

from mediasync.errors import AuthError, TableError
from mediasync.settings import BucketSettings
from mediasync.sources.bucket import batches
from mediasync.sources.supabase_client import SupabaseConnection

T = TypeVar("T")


class RecordTable(Protocol):
    name: str

    def records(self) -> dict[str, str | None]:
        """Every record: key -> URL (None when it has none)."""
        ...

    def insert(self, rows: Mapping[str, str | None]) -> int:
        """Add these records (key -> URL) in batches; returns how many were written."""
        ...

    def set_urls(self, urls: Mapping[str, str]) -> int:
        """Give existing records new URLs; returns how many were written."""
        ...

    def delete(self, keys: Sequence[str]) -> int:
        """Remove the records of these keys; returns how many went."""
        ...


class PostgrestRecordTable:
    def __init__(self, client: Client, table: str, key_column: str, url_column: str, *,
                 page_size: int = 1000, batch_size: int = 500, delete_batch: int = 100) -> None:
        self.name = table
        self._client = client
        self._key = key_column
        self._url = url_column
        self._page_size = page_size
        self._batch_size = batch_size
        self._delete_batch = delete_batch  # keys travel in the query string

    @classmethod
    def from_settings(cls, connection: SupabaseConnection,
                      settings: BucketSettings) -> PostgrestRecordTable:
        return cls(connection.client, settings.table, settings.key_column, settings.url_column,
                   batch_size=settings.insert_batch_size)

    def records(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        while True:
            start = len(found)
            query = (self._client.table(self.name)
                     .select(self._key, self._url, count=CountMethod.exact)
                     .order(self._key).range(start, start + self._page_size - 1))
            page = self._run(query.execute)
            rows = cast(list[dict[str, Any]], page.data)  # select answers a list of objects
            found.update((row[self._key], row[self._url]) for row in rows)
            if not page.data or len(found) >= (page.count or 0):
                return found

    def insert(self, rows: Mapping[str, str | None]) -> int:
        return self._write(rows, lambda batch: self._client.table(self.name).insert(batch))

    def set_urls(self, urls: Mapping[str, str]) -> int:
        return self._write(urls, lambda batch: self._client.table(self.name)
                           .upsert(batch, on_conflict=self._key))

    def _write(self, rows: Mapping[str, str | None], request: Callable[[Any], Any]) -> int:
        written = 0
        items = [{self._key: key, self._url: url} for key, url in rows.items()]
        for batch in batches(items, self._batch_size):
            written += len(self._run(request(list(batch)).execute).data)
        return written

    def delete(self, keys: Sequence[str]) -> int:
        gone = 0
        for batch in batches(list(keys), self._delete_batch):
            query = self._client.table(self.name).delete().in_(self._key, list(batch))
            gone += len(self._run(query.execute).data)
        return gone

    def _run(self, execute: Callable[[], APIResponse]) -> APIResponse:
        try:
            return execute()
        except APIError as exc:
            code = exc.code or ""
            if code.startswith("PGRST30") or code == "42501":
                raise AuthError(f"table {self.name}: the service key was refused "
                                f"({code} {exc.message})") from None
            raise TableError(f"table {self.name}: {exc.message} ({code})") from None
        except httpx.TransportError as exc:
            raise TableError(f"table {self.name}: connection failed: {type(exc).__name__}",
                             retryable=True) from exc
