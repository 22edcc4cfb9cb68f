"""A Supabase Storage bucket as a source, on supabase-py's Storage client.

Listing is complete: list-v2 pages through the whole bucket flat with a cursor; where a
project does not offer list-v2, the folder listing is walked recursively, page by page.
An entry is a folder when Storage says so (`id` and `metadata` both null), never because
of a `.` in its name. Downloads stream to an atomic write checked against the listed
size; transient failures (dropped connections, 5xx, 429) are retried.
"""

from __future__ import annotations

import json
import mimetypes
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from storage3.exceptions import StorageApiError
from storage3.types import SearchV2Options, SearchV2Result
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from mediasync.errors import (
    AuthError,
    ConfigError,
    FileProblem,
    MediasyncError,
    RateLimited,
    SourceError,
)
from mediasync.files import CHUNK, atomic_write
from mediasync.media.types import media_type_of
from mediasync.model import MediaFile, MediaType, SourceAsset, signature_differs
from mediasync.settings import BucketSettings
from mediasync.sources.base import DeleteOutcome, Downloaded, SourceFeatures
from mediasync.sources.supabase_client import SupabaseConnection, connect

# Storage's limit for create_signed_urls (and list-v2's page); removes go in batches of as
# many, which keeps each answer small
MAX_PER_CALL = 1000
PLACEHOLDER = ".emptyFolderPlaceholder"
NOT_REMOVED = "Storage did not list it among the objects it removed"
T = TypeVar("T")


@dataclass(frozen=True)
class BucketObject:
    key: str
    size: int | None
    updated: datetime | None = None
    mimetype: str | None = None
    etag: str | None = None

    @property
    def change_tag(self) -> str | None:
        """What changes when the object is replaced: its ETag, else its update time."""
        return self.etag or (self.updated.isoformat() if self.updated else None)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def extension(self) -> str:
        stem, dot, ext = self.name.rpartition(".")
        return ext.lower() if dot and stem else ""


@dataclass
class Retry:
    attempts: int = 4
    first_wait: float = 0.5
    max_wait: float = 10.0


@dataclass
class SignResult:
    urls: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class BucketSource:
    features = SourceFeatures(can_delete=True, change_tag="change_tag")

    def __init__(self, connection: SupabaseConnection, bucket: str, *, prefix: str = "",
                 page_size: int = 100, retry: Retry | None = None,
                 parallel_downloads: int = 1) -> None:
        self.connection = connection
        self.parallel_downloads = parallel_downloads
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.name = f"bucket:{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self._storage = connection.client.storage.from_(bucket)
        self._page_size = page_size
        self._retry = retry or Retry()
        self._host = urlsplit(connection.url).netloc
        self._throttled = 0
        self._lock = threading.Lock()
        self._bucket_found = False

    @classmethod
    def from_settings(cls, settings: BucketSettings, retry: Retry | None = None) -> BucketSource:
        if not settings.bucket:
            raise ConfigError("bucket.bucket must be set")
        return cls(connect(settings), settings.bucket, prefix=settings.prefix,
                   page_size=settings.list_page_size, retry=retry,
                   parallel_downloads=settings.parallelism)

    def close(self) -> None:
        self.connection.close()

    # listing ---------------------------------------------------------------------------
    def list_objects(self) -> Iterator[BucketObject]:
        """Every object under the prefix, placeholders left out."""
        first = self._list_v2_page(None)
        entries = self._walk_v2(first) if first is not None else self._walk_v1()
        return (obj for obj in entries if obj.name != PLACEHOLDER)

    def _ask_for_bucket(self) -> None:
        """Storage lists a bucket that does not exist, or that the key may not see (the
        anon key on a private bucket), as empty with 200: the bucket is asked for before
        its first listing, so neither passes for an empty bucket."""
        if self._bucket_found:
            return

        def ask() -> None:
            try:
                self.connection.client.storage.get_bucket(self.bucket)
            except StorageApiError as exc:
                if _status(exc.status) != 404:
                    raise
                raise SourceError(
                    f"Supabase Storage at {self._host} has no bucket {self.bucket!r} that this "
                    f"key can see: check bucket.bucket, and that bucket.service_key is the "
                    f"service_role key (the anon key sees no private bucket)",
                    subject=self.bucket) from None

        self._call(ask)
        self._bucket_found = True

    def _list_v2_page(self, cursor: str | None) -> SearchV2Result | None:
        self._ask_for_bucket()
        options: SearchV2Options = {"prefix": f"{self.prefix}/" if self.prefix else "",
                                    "limit": MAX_PER_CALL}
        if cursor:
            options["cursor"] = cursor

        def page() -> SearchV2Result | None:
            try:
                return self._storage.list_v2(options)
            except StorageApiError as exc:
                # An older Storage without list-v2 refuses the first page: walk the folders.
                if cursor is None and _status(exc.status) in (400, 404):
                    return None
                raise

        return self._call(page)

    def _walk_v2(self, page: SearchV2Result | None) -> Iterator[BucketObject]:
        while page is not None:
            for item in page.objects:
                yield _object(item.key or item.name, item.metadata, item.updated_at)
            if not page.hasNext or not page.nextCursor:
                return
            page = self._list_v2_page(page.nextCursor)

    def _walk_v1(self) -> Iterator[BucketObject]:
        folders = [self.prefix]
        while folders:
            folder = folders.pop()
            for entry in self._folder_entries(folder):
                key = f"{folder}/{entry['name']}" if folder else entry["name"]
                if entry.get("id") is None and entry.get("metadata") is None:
                    folders.append(key)
                else:
                    yield _object(key, entry.get("metadata"), entry.get("updated_at"))

    def _folder_entries(self, folder: str) -> Iterator[dict[str, Any]]:
        self._ask_for_bucket()
        offset = 0
        while True:
            page = self._call(self._storage.list, folder, {
                "limit": self._page_size, "offset": offset,
                "sortBy": {"column": "name", "order": "asc"}})
            yield from page
            if len(page) < self._page_size:
                return
            offset += len(page)

    # SourceHealth: what the deletion circuit breaker reads ---------------------------------
    @property
    def throttled(self) -> int:
        """429 and 5xx answers so far."""
        return self._throttled

    def count_assets(self) -> int:
        return sum(1 for _ in self.list_objects())

    # Source protocol -------------------------------------------------------------------
    def list_assets(self, known: Iterable[str] = ()) -> Iterator[SourceAsset]:
        for obj in self.list_objects():
            yield SourceAsset(source_id=obj.key, filename=obj.name, size=obj.size,
                              created=obj.updated, media_type=media_type(obj),
                              extra={"mimetype": obj.mimetype, "change_tag": obj.change_tag})

    def download(self, asset: SourceAsset, dest: Path) -> Downloaded:
        return self.download_object(BucketObject(asset.source_id, asset.size), dest)

    def delete(self, files: Sequence[MediaFile]) -> list[DeleteOutcome]:
        """Storage removes a key whatever it holds now, so an object replaced since its
        download is kept (the old bytes' proof is not its proof); and a key counts as
        deleted only when Storage's answer lists it (a key it refuses, or that was gone
        already, is left out without an error)."""
        listed = self._listed(files)
        refused = {f.source_id: _changed(f, listed.get(f.source_id)) for f in files}
        removed = self.remove([f.source_id for f in files if refused[f.source_id] is None])
        return [DeleteOutcome(f.source_id, f.source_id in removed,
                              None if f.source_id in removed
                              else refused[f.source_id] or NOT_REMOVED)
                for f in files]

    def still_present(self, files: Sequence[MediaFile]) -> set[str]:
        """Source ids among `files` that the bucket still holds, asked now."""
        return set(self._listed(files))

    def _listed(self, files: Sequence[MediaFile]) -> dict[str, BucketObject]:
        """The objects under the keys of `files` as Storage lists them now: one listing of
        each folder they are in, not of the whole bucket."""
        folders: dict[str, set[str]] = {}
        for media in files:
            folder, _, name = media.source_id.rpartition("/")
            folders.setdefault(folder, set()).add(name)
        found: dict[str, BucketObject] = {}
        for folder, names in folders.items():
            for entry in self._folder_entries(folder):
                is_file = entry.get("id") is not None or entry.get("metadata") is not None
                if is_file and entry["name"] in names:
                    key = f"{folder}/{entry['name']}" if folder else entry["name"]
                    found[key] = _object(key, entry.get("metadata"), entry.get("updated_at"))
        return found

    # objects -----------------------------------------------------------------------------
    def download_object(self, obj: BucketObject, dest: Path) -> Downloaded:
        """Stream one object to `dest` atomically; the size must match the listing's."""
        url = f"{self.connection.url}/storage/v1/object/authenticated/{self.bucket}/" \
              f"{quote(obj.key, safe='/')}"

        def attempt() -> Downloaded:
            try:
                with self.connection.http.stream("GET", url,
                                                 headers=self.connection.auth_headers) as resp:
                    if resp.is_error:
                        resp.read()
                        raise self._error(*_answer(resp), key=obj.key)
                    with atomic_write(dest, obj.size, working=True) as out:
                        for chunk in resp.iter_bytes(CHUNK):
                            out.write(chunk)
            except httpx.TransportError as exc:
                raise SourceError(f"{obj.key}: connection to Supabase Storage failed: "
                                  f"{type(exc).__name__}", retryable=True, subject=obj.key) from exc
            return Downloaded(dest, out.size, out.sha256)

        return self._retrying(attempt)

    def remove(self, keys: Sequence[str]) -> set[str]:
        """Delete objects, at most 1000 per call; returns the keys Storage removed (a key
        that was already gone is not an error, and is not returned)."""
        removed: set[str] = set()
        for batch in batches(list(keys), MAX_PER_CALL):
            for row in self._call(self._storage.remove, list(batch)):
                removed.add(row["name"])
        return removed

    def sign(self, keys: Sequence[str], seconds: int) -> SignResult:
        """Signed download URLs, 1000 per call."""
        result = SignResult()
        for batch in batches(list(keys), MAX_PER_CALL):
            for item in self._call(self._storage.create_signed_urls, list(batch), seconds):
                if item["signedURL"]:
                    result.urls[item["path"]] = self._signed_url(item["path"],
                                                                 item["signedURL"])
                else:
                    result.errors[item["path"]] = item["error"] or "not signed"
        return result

    def _signed_url(self, key: str, returned: str) -> str:
        """The URL that fetches `key`. Storage returns a batch-signed URL with its key as
        is (`what?.txt`: the `?` would start the query) while the token signs the key
        itself and the fetch decodes the path once: so the key is escaped here."""
        token = returned.rpartition("token=")[2].split("&")[0]
        return (f"{self.connection.url}/storage/v1/object/sign/{quote(self.bucket, safe='')}/"
                f"{quote(key, safe='/')}?token={token}")

    # errors and retries --------------------------------------------------------------------
    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Call storage3 with retries, its errors translated into ours."""
        def attempt() -> T:
            try:
                return fn(*args)
            except StorageApiError as exc:
                raise self._error(_status(exc.status), exc.message) from None
            except httpx.TransportError as exc:
                raise SourceError(f"Supabase Storage at {self._host} unreachable: "
                                  f"{type(exc).__name__}", retryable=True) from exc

        return self._retrying(attempt)

    def _retrying(self, attempt: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: getattr(exc, "retryable", False)),
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential(multiplier=self._retry.first_wait, max=self._retry.max_wait),
            reraise=True,
        )
        return retrying(attempt)

    def _error(self, status: int, message: str, code: str = "",
               key: str | None = None) -> MediasyncError:
        where = f"{key}: " if key else ""
        if key and code == "NoSuchKey":  # gone since it was listed: that object alone
            return FileProblem(f"{key}: not in bucket {self.bucket!r} any more (404 {code})",
                               subject=key)
        if status == 429 or status >= 500:
            with self._lock:
                self._throttled += 1
        if status in (401, 403):
            return AuthError(f"Supabase Storage at {self._host} rejected the service key "
                             f"({status} {message}); check bucket.service_key", subject=key)
        if status == 429:
            return RateLimited(f"{where}Supabase Storage asks to slow down (429)", subject=key)
        return SourceError(f"{where}Supabase Storage bucket {self.bucket!r}: {message} ({status})",
                           retryable=status >= 500, subject=key)


def _object(key: str, metadata: dict[str, Any] | None, updated: Any) -> BucketObject:
    meta = metadata or {}
    stamp = updated or meta.get("lastModified")
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    size = meta.get("size", meta.get("contentLength"))
    return BucketObject(key, int(size) if size is not None else None, stamp, meta.get("mimetype"),
                        meta.get("eTag"))


def _changed(media: MediaFile, obj: BucketObject | None) -> str | None:
    """Why the object under this key is not the version that was downloaded, or None."""
    if obj is None:
        return "not found in the bucket"
    tag = media.source_meta.get(BucketSource.features.change_tag or "")
    recorded = (media.size, None if tag is None else str(tag))
    if signature_differs(recorded, obj.size, obj.change_tag):
        return "changed at the source since download"
    return None


def _status(status: int | str | None) -> int:
    try:
        return int(status)
    except (TypeError, ValueError):
        return 0


def _answer(resp: httpx.Response) -> tuple[int, str, str]:
    """Status, message and code of an error answer. Storage sends its errors as HTTP 400
    with the real status in the body's `statusCode` ("404", "403"); only a gateway in
    front answers with its own status (502, 503, 429) and maybe no JSON."""
    try:
        body = json.loads(resp.content)
        status = _status(body.get("statusCode")) or resp.status_code
        return status, str(body.get("message", resp.reason_phrase)), str(body.get("code", ""))
    except (ValueError, AttributeError):
        return resp.status_code, resp.reason_phrase, ""


def media_type(obj: BucketObject) -> MediaType:
    """The stored content type where it says image or video, else the name's, as the
    other sources type files: an uploader's generic type (application/octet-stream) must
    not hide a photo, nor turn a sidecar into some other file."""
    kind = (obj.mimetype or mimetypes.guess_type(obj.name)[0] or "").split("/")[0]
    return {"image": MediaType.IMAGE, "video": MediaType.VIDEO}.get(kind) \
        or media_type_of(obj.name)
