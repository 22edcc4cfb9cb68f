"""A local Supabase Storage server over a folder, answering as Storage API v1.11.2 does
(tests/recordings/supabase-storage-1.11.2.json; tests/bucket/test_recording.py replays
every recorded case against it). Routes, under /storage/v1 as behind Supabase's gateway:

    POST/GET /bucket, GET /bucket/{b}                    create, list, get a bucket
    POST   /object/list/{b}       {prefix, limit, offset, sortBy, search}
    POST   /object/list-v2/{b}    {prefix, limit, cursor, with_delimiter}
    GET    /object/info[/authenticated]/{b}/{key}
    GET|HEAD /object[/authenticated|/public]/{b}/{key}  Range, If-None-Match
    POST|PUT /object/{b}/{key}    raw or multipart upload, x-upsert
    POST   /object/sign/{b}/{key} {expiresIn}; POST /object/sign/{b} {paths, expiresIn}
    GET    /object/sign/{b}/{key}?token=JWT[&download=]
    POST   /object/upload/sign/{b}/{key}, /object/move, /object/copy
    DELETE /object/{b} {prefixes}; DELETE /object/{b}/{key}

What real Storage does and this double does too: errors are HTTP 400 with the real status
as a string in the body's `statusCode` (`{"statusCode", "error", "message", "code"}`); a
bucket that does not exist, or one the caller may not see (the anon key on a private
bucket), lists as empty with 200; signed URLs come back relative and unescaped, their
token signing the key as the server read it (see `_sign_one`).

Objects are files under `root/<bucket>/`; their mtime is their `updated_at`, their ETag
the md5 of their bytes. Callers: `service_key` is the service role, `anon_key` the anon
role, `token()` mints other JWTs (expired, signed with another secret). Faults on demand:
`unavailable` answers 503 so many times, `drop_once` cuts a download half way once per
key, `gone_on_download` keys are listed but answer "not found" when fetched (deleted in
between), `undeletable` keys are left out of a remove's answer (and kept), `latency` delays
every answer (a stand-in for the network in benchmarks), `list_v2 = False` refuses
list-v2 like a tenant without it. Like the project's gateway it can pass other paths on
(`upstreams`, e.g. /rest/v1/ to a PostgREST fake), so one project URL serves both.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import hmac
import json
import mimetypes
import os
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

from tests.fakes.local_server import LocalHandler, LocalServer

GATEWAY = "/storage/v1"
MAX_SIGN = 1000  # paths in one batch sign; remove has no limit
LIST_V2_MAX = 1000
VALID_KEY = re.compile(r"^[A-Za-z0-9_/!.*'() &$=@;:+,?-]*$")
VALID_BUCKET = re.compile(r"^[A-Za-z0-9_!.*'() &$@=;:+,?-]+$")
NOT_SIGNED = "Either the object does not exist or you do not have access to it"
SERVICE, ANON = "service_role", "anon"


class StorageFault(Exception):
    """An error answer: `status` is the real one, sent in the body; HTTP says 400."""

    def __init__(self, status: int, error: str, message: str, code: str,
                 http_status: int = 400) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.code = status, error, message, code
        self.http_status = http_status

    def body(self) -> dict[str, str]:
        return {"statusCode": str(self.status), "error": self.error, "message": self.message,
                "code": self.code}


def no_such_key() -> StorageFault:
    return StorageFault(404, "not_found", "Object not found", "NoSuchKey")


def no_such_bucket() -> StorageFault:
    return StorageFault(404, "Bucket not found", "Bucket not found", "NoSuchBucket")


def already_exists(code: str) -> StorageFault:
    return StorageFault(409, "Duplicate", "The resource already exists", code)


def invalid_request(message: str) -> StorageFault:
    return StorageFault(400, "Error", message, "InvalidRequest")


def access_denied(message: str) -> StorageFault:
    return StorageFault(403, "Unauthorized", message, "AccessDenied")


NO_AUTH = invalid_request("headers must have required property 'authorization'")
RLS = access_denied("new row violates row-level security policy")


@dataclass
class BucketInfo:
    name: str
    public: bool = False
    file_size_limit: int | None = None
    allowed_mime_types: list[str] | None = None
    created: float = field(default_factory=time.time)

    def row(self) -> dict[str, Any]:
        stamp = _iso(self.created)
        return {"id": self.name, "name": self.name, "owner": "", "public": self.public,
                "file_size_limit": self.file_size_limit,
                "allowed_mime_types": self.allowed_mime_types,
                "created_at": stamp, "updated_at": stamp}


@dataclass
class ObjectInfo:
    """What Storage keeps beside the bytes; files put in place directly get defaults."""

    id: str
    version: str
    created: float
    mimetype: str
    cache_control: str = "no-cache"


@dataclass
class StoredObject:
    bucket: str
    key: str
    path: Path
    info: ObjectInfo
    etag: str
    size: int
    mtime: float

    def metadata(self) -> dict[str, Any]:
        return {"eTag": self.etag, "size": self.size, "mimetype": self.info.mimetype,
                "cacheControl": self.info.cache_control, "lastModified": _iso(self.mtime),
                "contentLength": self.size, "httpStatusCode": 200}

    def row(self, name: str) -> dict[str, Any]:
        """An entry of a listing, under the name the listing gives it."""
        return {"name": name, "id": self.info.id, "updated_at": _iso(self.mtime),
                "created_at": _iso(self.info.created),
                "last_accessed_at": _iso(self.info.created), "metadata": self.metadata()}

    def full_row(self) -> dict[str, Any]:
        """The database row, as remove and copy answer it."""
        return {"name": self.key, "bucket_id": self.bucket, "owner": "", "owner_id": "",
                "version": self.info.version, **self.row(self.key), "user_metadata": {}}

    def headers(self, cache: bool) -> dict[str, str]:
        """What a download or an info answer says of the object (a signed URL's fetch
        sends no cache-control)."""
        found = {"ETag": self.etag, "Last-Modified": formatdate(self.mtime, usegmt=True)}
        return {**found, "Cache-Control": self.info.cache_control} if cache else found

    def info_answer(self) -> dict[str, Any]:
        return {"id": self.info.id, "name": self.key, "version": self.info.version,
                "bucket_id": self.bucket, "size": self.size, "content_type": self.info.mimetype,
                "cache_control": self.info.cache_control, "etag": self.etag, "metadata": {},
                "last_modified": _iso(self.mtime), "created_at": _iso(self.info.created)}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _folder_row(name: str) -> dict[str, Any]:
    return {"name": name, "id": None, "updated_at": None, "created_at": None,
            "last_accessed_at": None, "metadata": None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_uri(text: str) -> str:
    """JavaScript's decodeURI: escapes of reserved characters (`?`, `#`, `+`, `/`, ...)
    stay escaped. Storage signs a single URL's key after this, not after a full decode."""
    reserved = {"%" + f"{ord(c):02X}" for c in ";,/?:@&=+$#"}
    return re.sub(r"%[0-9A-Fa-f]{2}",
                  lambda m: m.group(0) if m.group(0).upper() in reserved else unquote(m.group(0)),
                  text)


def jwt(secret: bytes, claims: dict[str, Any]) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def verify_jwt(secret: bytes, token: str) -> dict[str, Any]:
    """The claims of a valid token; the message of jose's error otherwise."""
    try:
        head, body, mac = token.split(".")
        claims = json.loads(_unb64(body))
        signature = _unb64(mac)
    except ValueError:
        raise ValueError("Invalid Compact JWS") from None
    good = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, good):
        raise ValueError("signature verification failed")
    if "exp" in claims and claims["exp"] < time.time():
        raise ValueError('"exp" claim timestamp check failed')
    return dict(claims)


class FakeStorage(LocalServer):
    """The server; use as a context manager. `url` is the project URL for create_client."""

    def __init__(self, root: Path, bucket: str | None = "media",
                 service_key: str = "service-key",
                 *, list_v2: bool = True, latency: float = 0.0,
                 anon_key: str = "anon-key") -> None:
        self.root = root
        self.service_key = service_key
        self.anon_key = anon_key
        self.list_v2 = list_v2  # False: answer list-v2 like a tenant without it
        self.latency = latency
        self.drop_once: set[str] = set()  # keys whose next download is cut half way
        self.gone_on_download: set[str] = set()  # listed, but deleted before they are fetched
        # keys a row-level security policy keeps from being removed: Storage leaves them
        # out of its answer, with 200, as it does for keys the caller may not see
        self.undeletable: set[str] = set()
        self.unavailable = 0  # answer this many requests with 503
        self.upstreams: dict[str, str] = {}  # path prefix -> base URL it is passed on to
        self.forwarder = httpx.Client(timeout=30)
        self.calls: Counter[str] = Counter()
        self.batch_sizes: dict[str, list[int]] = {"remove": [], "sign": []}
        self.jwt_secret = os.urandom(32)  # the project's: signs keys and signed URLs
        self.buckets: dict[str, BucketInfo] = {}
        self._objects_info: dict[tuple[str, str], ObjectInfo] = {}
        self._etags: dict[tuple[Path, int, int], str] = {}
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        if bucket is not None:  # a private bucket to start with
            self.create_bucket(bucket)
        super().__init__(_StorageHandler)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.forwarder.close()

    # test helpers ------------------------------------------------------------------
    def put(self, bucket: str, key: str, data: bytes, mtime: float | None = None) -> Path:
        """Place an object directly (any key, no checks), as if uploaded at `mtime`."""
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def keys(self, bucket: str) -> set[str]:
        return {obj.key for obj in self._objects(bucket, "")}

    def token(self, role: str = SERVICE, *, expired: bool = False,
              secret: bytes | None = None) -> str:
        """A JWT for `role`: expired an hour ago, or signed with another secret."""
        now = int(time.time())
        exp = now - 3600 if expired else now + 3600
        return jwt(secret or self.jwt_secret, {"role": role, "iat": now - 7200, "exp": exp})

    def create_bucket(self, name: str, public: bool = False, file_size_limit: int | None = None,
                      allowed_mime_types: list[str] | None = None) -> None:
        if not VALID_BUCKET.match(name):
            raise StorageFault(400, "Invalid Input", "Bucket name invalid", "InvalidBucketName")
        with self._lock:
            if name in self.buckets:
                raise already_exists("BucketAlreadyExists")
            self.buckets[name] = BucketInfo(name, public, file_size_limit, allowed_mime_types)
        (self.root / name).mkdir(parents=True, exist_ok=True)

    # storage -------------------------------------------------------------------------
    def bucket(self, name: str, role: str | None = SERVICE) -> BucketInfo:
        """The bucket as the caller may see it: only the service role sees buckets."""
        found = self.buckets.get(name)
        if found is None and (self.root / name).is_dir():  # a folder put in place
            found = self.buckets.setdefault(name, BucketInfo(name))
        if found is None or role != SERVICE:
            raise no_such_bucket()
        return found

    def visible(self, name: str, role: str | None) -> bool:
        """Whether the caller's listings show the bucket's objects: row-level security
        hides every object from the anon role, and a missing bucket lists as empty."""
        return role == SERVICE and (name in self.buckets or (self.root / name).is_dir())

    def _info(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        with self._lock:
            info = self._objects_info.get((bucket, key))
            if info is None:
                created = path.stat().st_mtime
                info = ObjectInfo(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{bucket}/{key}")),
                                  str(uuid.uuid4()), created,
                                  mimetypes.guess_type(key)[0] or "application/octet-stream")
                self._objects_info[(bucket, key)] = info
            return info

    def _etag(self, path: Path, size: int, mtime_ns: int) -> str:
        with self._lock:
            cached = self._etags.get((path, size, mtime_ns))
        if cached is None:
            cached = f'"{hashlib.md5(path.read_bytes()).hexdigest()}"'
            with self._lock:
                self._etags[(path, size, mtime_ns)] = cached
        return cached

    def _stored(self, bucket: str, key: str, path: Path) -> StoredObject:
        stat = path.stat()
        return StoredObject(bucket, key, path, self._info(bucket, key, path),
                            self._etag(path, stat.st_size, stat.st_mtime_ns), stat.st_size,
                            stat.st_mtime)

    def _objects(self, bucket: str, prefix: str) -> list[StoredObject]:
        base = self.root / bucket
        found = []
        for folder, _dirs, files in os.walk(base):
            for name in files:
                path = Path(folder) / name
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix) and not name.endswith(".partial"):
                    found.append(self._stored(bucket, key, path))
        return sorted(found, key=lambda obj: obj.key)

    def object(self, bucket: str, key: str, role: str | None) -> StoredObject:
        """One object for the caller. No JWT (role None) reaches public buckets only, and
        a private one is then "not found"; the anon role finds no object at all."""
        found = self.bucket(bucket)
        if role is None and not found.public:
            raise no_such_bucket()
        path = self.root / bucket / key
        if role == ANON or ".." in key.split("/") or not path.is_file():
            raise no_such_key()
        return self._stored(bucket, key, path)

    def list_v1(self, bucket: str, body: dict[str, Any], role: str | None) -> list[dict[str, Any]]:
        if "prefix" not in body:
            raise invalid_request("body must have required property 'prefix'")
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 100))
        if limit < 1:
            raise invalid_request("body/limit must be >= 1")
        if not self.visible(bucket, role):
            return []
        prefix = body["prefix"]
        if prefix and not prefix.endswith("/"):
            prefix += "/"  # Storage takes the prefix as a folder
        entries: dict[str, dict[str, Any]] = {}
        for obj in self._objects(bucket, prefix):
            first, slash, _rest = obj.key[len(prefix):].partition("/")
            entries[first] = _folder_row(first) if slash else obj.row(first)
        search = body.get("search") or ""
        rows = [row for name, row in entries.items() if name.lower().startswith(search.lower())]
        sort = body.get("sortBy") or {}
        column = sort.get("column", "name")
        rows.sort(key=lambda row: (row.get(column) or "", row["name"]),
                  reverse=sort.get("order", "asc") == "desc")
        return rows[offset:offset + limit]  # no cap: a limit of 5000 gives 5000

    def list_v2_page(self, bucket: str, body: dict[str, Any], role: str | None) -> dict[str, Any]:
        if not self.list_v2:
            raise StorageFault(400, "Bad Request",
                               "This feature is not available for your tenant", "InvalidRequest")
        after = _cursor_key(body["cursor"]) if body.get("cursor") else ""
        if not self.visible(bucket, role):
            return {"hasNext": False, "folders": [], "objects": []}
        prefix = body.get("prefix", "")
        limit = min(int(body.get("limit") or LIST_V2_MAX), LIST_V2_MAX)
        delimited = bool(body.get("with_delimiter"))
        entries: dict[str, StoredObject | None] = {}  # None: a folder
        for obj in self._objects(bucket, prefix):
            rest = obj.key[len(prefix):]
            if delimited and "/" in rest:
                entries[prefix + rest.split("/")[0] + "/"] = None
            else:
                entries[obj.key] = obj
        names = [name for name in sorted(entries) if name > after]
        page, more = names[:limit], len(names) > limit
        folders = [{**_folder_row(n), "key": n[len(prefix):].rstrip("/")}
                   for n in page if entries[n] is None]
        objects = []
        for n in page:
            if (found := entries[n]) is not None:
                row = found.row(n)
                objects.append({**row, "key": n[len(prefix):]} if delimited else row)
        answer: dict[str, Any] = {"hasNext": more}
        if more:
            answer["nextCursor"] = base64.b64encode(f"l:{page[-1]}".encode()).decode()
            answer["nextCursorKey"] = page[-1]
        return {**answer, "folders": folders, "objects": objects}

    def remove(self, bucket: str, prefixes: list[str],
               role: str | None = SERVICE) -> list[dict[str, Any]]:
        if not prefixes:
            raise invalid_request("body/prefixes must NOT have fewer than 1 items")
        self.batch_sizes["remove"].append(len(prefixes))  # list.append is atomic
        removed = []
        for key in prefixes:
            try:
                obj = self.object(bucket, key, role)
            except StorageFault:
                continue  # a missing path, or a bucket the caller cannot see: no error
            if key in self.undeletable:
                continue
            removed.append(obj.full_row())
            self._drop(obj)
        return removed

    def _drop(self, obj: StoredObject) -> None:
        obj.path.unlink()
        with self._lock:
            self._objects_info.pop((obj.bucket, obj.key), None)
        self._prune(obj.bucket, obj.path.parent)

    def _prune(self, bucket: str, folder: Path) -> None:
        """Folders exist only while they hold objects, as in Storage."""
        base = self.root / bucket
        while folder != base and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent

    def signed_url(self, bucket: str, key: str, expires_in: int) -> str:
        """A URL as Storage returns it: relative, its key as given (not escaped), its token
        signing `bucket/key` exactly."""
        now = int(time.time())
        token = jwt(self.jwt_secret, {"url": f"{bucket}/{key}", "iat": now,
                                      "exp": now + int(expires_in)})
        return f"/object/sign/{bucket}/{key}?token={token}"

    def sign_many(self, bucket: str, paths: list[str], expires_in: int,
                  role: str | None) -> list[dict[str, Any]]:
        if not paths:
            raise invalid_request("body/paths must NOT have fewer than 1 items")
        if len(paths) > MAX_SIGN:
            raise invalid_request(f"body/paths must NOT have more than {MAX_SIGN} items")
        self.batch_sizes["sign"].append(len(paths))
        out = []
        for key in paths:
            try:
                self.object(bucket, key, role)
            except StorageFault:
                out.append({"error": NOT_SIGNED, "path": key, "signedURL": None})
                continue
            out.append({"error": None, "path": key,
                        "signedURL": self.signed_url(bucket, key, expires_in)})
        return out

    def check_token(self, bucket: str, key: str, token: str) -> float:
        """The token's expiry, when it signs this object's URL."""
        try:
            claims = verify_jwt(self.jwt_secret, token)
        except ValueError as exc:
            raise StorageFault(400, "InvalidJWT", str(exc), "InvalidJWT") from None
        if claims.get("url") != f"{bucket}/{key}":
            raise StorageFault(400, "InvalidSignature", "Invalid signature", "InvalidSignature")
        return float(claims["exp"])

    def upload(self, bucket: str, key: str, data: bytes, *, upsert: bool, role: str | None,
               mimetype: str, cache_control: str) -> dict[str, str]:
        found = self.bucket(bucket)
        check_key(key)
        if role != SERVICE:
            raise RLS
        allowed = found.allowed_mime_types
        if allowed is not None and mimetype not in allowed:
            raise StorageFault(415, "invalid_mime_type", f"mime type {mimetype} is not supported",
                               "InvalidMimeType")
        path = self.root / bucket / key
        with self._lock:
            if path.exists() and not upsert:
                raise already_exists("KeyAlreadyExists")
            old = self._objects_info.get((bucket, key)) if path.exists() else None
            info = ObjectInfo(old.id if old else str(uuid.uuid4()), str(uuid.uuid4()),
                              old.created if old else time.time(), mimetype, cache_control)
            self._objects_info[(bucket, key)] = info
        self.put(bucket, key, data)
        return {"Key": f"{bucket}/{key}", "Id": info.id}

    def move(self, body: dict[str, Any], *, copy: bool) -> dict[str, Any]:
        source = self.object(body["bucketId"], body["sourceKey"], SERVICE)
        bucket = body.get("destinationBucket") or body["bucketId"]
        key = body["destinationKey"]
        self.bucket(bucket)
        target = self.root / bucket / key
        if target.exists():
            raise already_exists("KeyAlreadyExists" if copy else "ResourceAlreadyExists")
        self.put(bucket, key, source.path.read_bytes())
        with self._lock:
            self._objects_info[(bucket, key)] = ObjectInfo(
                source.info.id if not copy else str(uuid.uuid4()), str(uuid.uuid4()),
                source.info.created if not copy else time.time(), source.info.mimetype,
                source.info.cache_control)
        if not copy:
            self._drop(source)
            return {"message": "Successfully moved"}
        moved = self.object(bucket, key, SERVICE)
        return {"Key": f"{bucket}/{key}", "Id": moved.info.id, **moved.full_row()}

    def count(self, call: str) -> None:
        with self._lock:
            self.calls[call] += 1

    def take_unavailable(self) -> bool:
        with self._lock:
            if self.unavailable > 0:
                self.unavailable -= 1
                return True
            return False

    def should_drop(self, key: str) -> bool:
        with self._lock:
            if key in self.drop_once:
                self.drop_once.discard(key)
                return True
            return False


def check_key(key: str) -> None:
    if not key or not VALID_KEY.match(key):
        raise StorageFault(400, "InvalidKey", f"Invalid key: {key}", "InvalidKey")


def _cursor_key(cursor: str) -> str:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except ValueError:
        text = ""
    if not text.startswith("l:"):
        raise StorageFault(400, "InvalidParameter", "Invalid Parameter continuation token",
                           "InvalidParameter")
    return text[2:]


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a `bytes=` Range header; None for the whole object."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        return max(size - int(last), 0), size - 1
    end = min(int(last), size - 1) if last else size - 1
    if int(first) >= size:
        raise StorageFault(416, "invalid_range", "invalid range provided", "InvalidRange",
                           http_status=416)
    return int(first), end


class _StorageHandler(LocalHandler):
    service: FakeStorage

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # dispatch ------------------------------------------------------------------------
    def _serve(self, method: str) -> None:
        self.method = method
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.service.count("requests")
        if self.service.take_unavailable():
            return self._json(StorageFault(503, "ServiceUnavailable", "try again later",
                                           "ServiceUnavailable").body(), 503)
        if self.service.latency:
            time.sleep(self.service.latency)
        url = urlsplit(self.path)
        for prefix, upstream in self.service.upstreams.items():
            if url.path.startswith(prefix):
                return self._forward(upstream, method, self.body)
        path = url.path.removeprefix(GATEWAY)
        self.query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            if path == "/bucket" or path.startswith("/bucket/"):
                return self._bucket_route(path[len("/bucket/"):])
            if not path.startswith("/object/"):
                raise StorageFault(404, "not_found", "Route not found", "NoSuchKey")
            self._object_route(path[len("/object/"):].split("/"))
        except StorageFault as fault:
            self._json(fault.body(), fault.http_status)

    def _role(self, required: bool = True) -> str | None:
        """The caller's role. Where a route does not require a JWT (downloads on
        /object/{b}/{key}), a bad or missing one counts as none: the public side only."""
        header = self.headers.get("Authorization")
        if header is None:
            if required:
                raise NO_AUTH
            return None
        token = header.removeprefix("Bearer ")
        if token == self.service.service_key:
            return SERVICE
        if token == self.service.anon_key:
            return ANON
        try:
            return str(verify_jwt(self.service.jwt_secret, token).get("role", ANON))
        except ValueError as exc:
            if required:
                raise access_denied(str(exc)) from None
            return None

    def _json_body(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            return dict(json.loads(self.body))
        except ValueError:
            raise StorageFault(400, "FastifyError", "Body is not valid JSON but content-type "
                               "is set to 'application/json'", "InvalidRequest") from None

    def _bucket_route(self, name: str) -> None:
        store, role = self.service, self._role()
        if self.method == "POST" and not name:
            body = self._json_body()
            if role != SERVICE:
                raise RLS
            store.create_bucket(body.get("name", ""), bool(body.get("public")),
                                body.get("file_size_limit"), body.get("allowed_mime_types"))
            return self._json({"name": body["name"]})
        if self.method == "GET" and not name:
            return self._json([{**b.row(), "type": "STANDARD"} for b in store.buckets.values()
                               if store.visible(b.name, role)])
        if self.method == "GET":
            store.count("get_bucket")
            return self._json(store.bucket(unquote(name), role).row())
        raise StorageFault(404, "not_found", "Route not found", "NoSuchKey")

    def _object_route(self, raw: list[str]) -> None:
        store, method = self.service, self.method
        parts = [unquote(p) for p in raw]
        head, rest = parts[0], parts[1:]
        if method == "GET" and head == "sign":  # signed URLs carry their own proof
            store.count("download_signed")
            return self._send_signed(rest[0], "/".join(rest[1:]))
        if method in ("GET", "HEAD") and head == "public":
            return self._send_object(rest[0], "/".join(rest[1:]), None)
        if method in ("GET", "HEAD") and head not in ("info", "authenticated"):
            store.count("download")
            return self._send_object(head, "/".join(rest), self._role(required=False))
        role = self._role()
        if method in ("GET", "HEAD") and head == "authenticated":
            store.count("download")
            return self._send_object(rest[0], "/".join(rest[1:]), role)
        if method == "GET" and head == "info":
            rest = rest[1:] if rest[0] == "authenticated" else rest
            obj = store.object(rest[0], "/".join(rest[1:]), role)
            return self._json(obj.info_answer(), headers=obj.headers(cache=True))
        if method == "POST" and head == "list":
            store.count("list")
            return self._json(store.list_v1(rest[0], self._json_body(), role))
        if method == "POST" and head == "list-v2":
            store.count("list_v2")
            return self._json(store.list_v2_page(rest[0], self._json_body(), role))
        if method == "POST" and head == "sign":
            return self._sign(raw[1:], role)
        if method == "POST" and head == "upload" and rest[0] == "sign":
            return self._upload_url(rest[1], "/".join(rest[2:]), role)
        if method == "POST" and head in ("move", "copy") and not rest:
            return self._json(store.move(self._json_body(), copy=head == "copy"))
        if method == "DELETE" and not rest:
            store.count("remove")
            return self._json(store.remove(head, list(self._json_body().get("prefixes", [])),
                                           role))
        if method == "DELETE":
            store.count("remove")
            obj = store.object(head, "/".join(rest), role)
            store._drop(obj)
            return self._json({"message": "Successfully deleted"})
        if method in ("POST", "PUT"):
            store.count("upload")
            return self._upload(head, "/".join(rest), method, role)
        raise StorageFault(404, "not_found", "Route not found", "NoSuchKey")

    def _sign(self, raw: list[str], role: str | None) -> None:
        store, body = self.service, self._json_body()
        bucket = unquote(raw[0])
        expires = int(body.get("expiresIn", 60))
        if len(raw) == 1:
            store.count("sign_batch")
            return self._json(store.sign_many(bucket, list(body.get("paths") or []), expires,
                                               role))
        store.count("sign")
        store.object(bucket, unquote("/".join(raw[1:])), role)
        # Storage reads the key of a single sign with decodeURI: `%3F` and `%2B` stay as
        # they are in the URL and its token, which no fetch then matches
        signed = store.signed_url(bucket, _decode_uri("/".join(raw[1:])), expires)
        self._json({"signedURL": signed})

    def _upload_url(self, bucket: str, key: str, role: str | None) -> None:
        self.service.bucket(bucket, role)
        token = jwt(self.service.jwt_secret, {"url": f"{bucket}/{key}", "upsert": False,
                                              "exp": int(time.time()) + 7200})
        self._json({"url": f"/object/upload/sign/{bucket}/{key}?token={token}",
                    "token": token})

    def _upload(self, bucket: str, key: str, method: str, role: str | None) -> None:
        upsert = method == "PUT" or self.headers.get("x-upsert", "false") == "true"
        kind = self.headers.get("Content-Type", "application/octet-stream")
        data, mimetype, cache = self.body, kind, "no-cache"
        if kind.startswith("multipart/form-data"):
            data, mimetype, cache = self._form(kind)
        self._json(self.service.upload(bucket, key, data, upsert=upsert, role=role,
                                       mimetype=mimetype, cache_control=cache))

    def _form(self, kind: str) -> tuple[bytes, str, str]:
        """The file, its type and the cache-control of a multipart upload."""
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + self.body)
        fields = {part.get_param("name", header="content-disposition"): part
                  for part in message.iter_parts()}
        if "file" not in fields:
            raise invalid_request("no file in the form")
        data = fields["file"].get_payload(decode=True)
        assert isinstance(data, bytes)
        seconds = fields["cacheControl"].get_content().strip() if "cacheControl" in fields \
            else "3600"
        return data, fields["file"].get_content_type(), f"max-age={seconds}"

    def _forward(self, upstream: str, method: str, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        answer = self.service.forwarder.request(method, upstream + self.path, headers=headers,
                                                content=body)
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding",
                                    "content-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    # answers ---------------------------------------------------------------------------
    def _send_signed(self, bucket: str, key: str) -> None:
        if "token" not in self.query:
            raise invalid_request("querystring must have required property 'token'")
        check_key(key)
        expires = self.service.check_token(bucket, key, self.query["token"])
        extra = {"Expires": formatdate(expires, usegmt=True)}
        if "download" in self.query:
            name = self.query["download"]
            extra["Content-Disposition"] = (
                f"attachment; filename={name}; filename*=UTF-8''{quote(name)}" if name
                else "attachment;")
        self._send_object(bucket, key, SERVICE, extra, cache=False)

    def _send_object(self, bucket: str, key: str, role: str | None,
                     extra: dict[str, str] | None = None, cache: bool = True) -> None:
        if key in self.service.gone_on_download:
            raise no_such_key()
        obj = self.service.object(bucket, key, role)
        headers = {"Accept-Ranges": "bytes", "Content-Type": obj.info.mimetype,
                   "X-Robots-Tag": "none", **obj.headers(cache), **(extra or {})}
        if self.headers.get("If-None-Match") == obj.etag:
            return self._head_only(304, headers, 0)
        span = _byte_range(self.headers.get("Range"), obj.size)
        status = 200
        if span is not None:
            status = 206
            headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{obj.size}"
        first, last = span or (0, obj.size - 1)
        if self.method == "HEAD":
            return self._head_only(status, headers, last - first + 1)
        data = obj.path.read_bytes()[first:last + 1]
        self._head_only(status, headers, len(data))
        if self.service.should_drop(key):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(data)

    def _head_only(self, status: int, headers: dict[str, str], length: int) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _json(self, payload: Any, status: int = 200,
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._head_only(status, {"Content-Type": "application/json; charset=utf-8",
                                 **(headers or {})}, len(data))
        if self.method != "HEAD":  # a HEAD error still announces the body it leaves out
            self.wfile.write(data)
