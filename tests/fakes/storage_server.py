"""A local Supabase Storage server over a folder, speaking the wire format of the calls
mediasync makes through supabase-py (storage3):

    POST   /storage/v1/object/list/{bucket}          {prefix, limit, offset, sortBy, search}
    POST   /storage/v1/object/list-v2/{bucket}       {prefix, limit, cursor, with_delimiter, sortBy}
    GET    /storage/v1/object/{bucket}/{key}         (also /object/authenticated/...)
    GET    /storage/v1/object/sign/{bucket}/{key}?token=JWT
    POST   /storage/v1/object/sign/{bucket}/{key}    {expiresIn}
    POST   /storage/v1/object/sign/{bucket}          {paths, expiresIn}       at most 1000 paths
    DELETE /storage/v1/object/{bucket}               {prefixes}               at most 1000
    POST   /storage/v1/object/{bucket}/{key}         multipart upload, x-upsert: true|false

Objects are files under `root/<bucket>/`; their mtime is their `updated_at`. Errors carry
Storage's body `{"statusCode": "...", "error": "...", "message": "..."}`. Faults on demand:
a bad key answers 401, `unavailable` answers 503 so many times, `drop_once` cuts a
download half way once per key, `undeletable` keys are left out of a remove's answer
(and kept), `latency`
delays every answer (a stand-in for the network in benchmarks). Like the project's API
gateway, it can pass other paths on (`upstreams`, e.g. /rest/v1/ to a PostgREST fake), so
one project URL serves both.
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
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import httpx

from tests.fakes.local_server import LocalHandler, LocalServer

PREFIX = "/storage/v1/object/"
MAX_BATCH = 1000
PLACEHOLDER = ".emptyFolderPlaceholder"


class StorageFault(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass
class StoredObject:
    key: str
    path: Path

    def row(self, name: str) -> dict[str, Any]:
        stat = self.path.stat()
        stamp = _iso(stat.st_mtime)
        etag = hashlib.md5(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
        mimetype = mimetypes.guess_type(self.key)[0] or "application/octet-stream"
        return {
            "name": name,
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.key)),
            "updated_at": stamp,
            "created_at": stamp,
            "last_accessed_at": stamp,
            "metadata": {
                "eTag": f'"{etag}"',
                "size": stat.st_size,
                "mimetype": mimetype,
                "cacheControl": "max-age=3600",
                "lastModified": stamp,
                "contentLength": stat.st_size,
                "httpStatusCode": 200,
            },
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _folder_row(name: str) -> dict[str, Any]:
    return {"name": name, "id": None, "updated_at": None, "created_at": None,
            "last_accessed_at": None, "metadata": None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeStorage(LocalServer):
    """The server; use as a context manager. `url` is the project URL for create_client."""

    def __init__(self, root: Path, bucket: str = "media", service_key: str = "service-key",
                 *, list_v2: bool = True, latency: float = 0.0) -> None:
        self.root = root
        self.service_key = service_key
        self.list_v2 = list_v2  # False: answer list-v2 like a tenant without it
        self.latency = latency
        self.drop_once: set[str] = set()  # keys whose next download is cut half way
        # keys a row-level security policy keeps from being removed: Storage leaves them
        # out of its answer, with 200, as it does for keys the caller may not see
        self.undeletable: set[str] = set()
        self.unavailable = 0  # answer this many requests with 503
        self.upstreams: dict[str, str] = {}  # path prefix -> base URL it is passed on to
        self.forwarder = httpx.Client(timeout=30)
        self.calls: Counter[str] = Counter()
        self.batch_sizes: dict[str, list[int]] = {"remove": [], "sign": []}
        self._secret = os.urandom(32)
        self._lock = threading.Lock()
        (root / bucket).mkdir(parents=True, exist_ok=True)
        super().__init__(_StorageHandler)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.forwarder.close()

    # test helpers ------------------------------------------------------------------
    def put(self, bucket: str, key: str, data: bytes, mtime: float | None = None) -> Path:
        path = self.root / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def keys(self, bucket: str) -> set[str]:
        return {obj.key for obj in self._objects(bucket, "")}

    # storage -------------------------------------------------------------------------
    def _bucket_dir(self, bucket: str) -> Path:
        folder = self.root / bucket
        if not folder.is_dir():
            raise StorageFault(404, "Bucket not found", "Bucket not found")
        return folder

    def _objects(self, bucket: str, prefix: str) -> list[StoredObject]:
        base = self._bucket_dir(bucket)
        found = []
        for folder, _dirs, files in os.walk(base):
            for name in files:
                path = Path(folder) / name
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix) and not name.endswith(".partial"):
                    found.append(StoredObject(key, path))
        return sorted(found, key=lambda obj: obj.key)

    def _object(self, bucket: str, key: str) -> StoredObject:
        path = self._bucket_dir(bucket) / key
        if not path.is_file() or ".." in key.split("/"):
            raise StorageFault(404, "not_found", "Object not found")
        return StoredObject(key, path)

    def list_v1(self, bucket: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        prefix = body.get("prefix", "")
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
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 100))
        return rows[offset:offset + limit]

    def list_v2_page(self, bucket: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self.list_v2:
            raise StorageFault(400, "Bad Request", "This feature is not available for your tenant")
        prefix = body.get("prefix", "")
        limit = min(int(body.get("limit", MAX_BATCH)), MAX_BATCH)
        after = _unb64(body["cursor"]).decode() if body.get("cursor") else ""
        entries: dict[str, StoredObject | None] = {}  # None: a folder
        for obj in self._objects(bucket, prefix):
            rest = obj.key[len(prefix):]
            if body.get("with_delimiter") and "/" in rest:
                entries[prefix + rest.split("/")[0] + "/"] = None
            else:
                entries[obj.key] = obj
        names = [name for name in sorted(entries) if name > after]
        page, more = names[:limit], len(names) > limit
        return {
            "hasNext": more,
            "nextCursor": _b64(page[-1].encode()) if more else None,
            "folders": [{"key": n, "name": n.rstrip("/").rsplit("/", 1)[-1]}
                        for n in page if entries[n] is None],
            "objects": [{**found.row(n), "key": n} for n in page if (found := entries[n])],
        }

    def remove(self, bucket: str, prefixes: list[str]) -> list[dict[str, Any]]:
        if not prefixes or len(prefixes) > MAX_BATCH:
            raise StorageFault(400, "Bad Request", f"prefixes must hold 1 to {MAX_BATCH} items")
        self.batch_sizes["remove"].append(len(prefixes))  # list.append is atomic
        removed = []
        for key in prefixes:
            try:
                obj = self._object(bucket, key)
            except StorageFault:
                continue  # a missing path is not an error
            if key in self.undeletable:
                continue
            removed.append({**obj.row(key), "bucket_id": bucket})
            obj.path.unlink()
            self._prune(bucket, obj.path.parent)
        return removed

    def _prune(self, bucket: str, folder: Path) -> None:
        """Folders exist only while they hold objects, as in Storage."""
        base = self._bucket_dir(bucket)
        while folder != base and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent

    def sign(self, bucket: str, key: str, expires_in: int) -> str:
        now = int(time.time())
        claims = {"url": f"{bucket}/{key}", "iat": now, "exp": now + int(expires_in)}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        mac = hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"/object/sign/{bucket}/{quote(key)}?token={head}.{body}.{_b64(mac)}"

    def sign_many(self, bucket: str, paths: list[str], expires_in: int) -> list[dict[str, Any]]:
        if not paths or len(paths) > MAX_BATCH:
            raise StorageFault(400, "Bad Request", f"paths must hold 1 to {MAX_BATCH} items")
        self.batch_sizes["sign"].append(len(paths))
        out = []
        for key in paths:
            try:
                self._object(bucket, key)
            except StorageFault:
                out.append({"error": "Either the object does not exist or you do not have "
                                     "access to it", "path": key, "signedURL": None})
                continue
            url = self.sign(bucket, key, expires_in)
            out.append({"error": None, "path": key, "signedURL": url})
        return out

    def check_token(self, bucket: str, key: str, token: str) -> None:
        try:
            head, body, mac = token.split(".")
            good = hmac.new(self._secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            claims = json.loads(_unb64(body))
        except ValueError:
            raise StorageFault(400, "InvalidJWT", "jwt malformed") from None
        if not hmac.compare_digest(_unb64(mac), good):
            raise StorageFault(400, "InvalidJWT", "invalid signature")
        if claims["exp"] < time.time():
            raise StorageFault(400, "InvalidJWT", "jwt expired")
        if claims["url"] != f"{bucket}/{key}":
            raise StorageFault(400, "InvalidSignature", "The url do not match the signature")

    def upload(self, bucket: str, key: str, data: bytes, upsert: bool) -> dict[str, str]:
        path = self._bucket_dir(bucket) / key
        if path.exists() and not upsert:
            raise StorageFault(409, "Duplicate", "The resource already exists")
        self.put(bucket, key, data)
        return {"Key": f"{bucket}/{key}", "Id": str(uuid.uuid5(uuid.NAMESPACE_URL, key))}

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


class _StorageHandler(LocalHandler):
    service: FakeStorage

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # dispatch ------------------------------------------------------------------------
    def _serve(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.service.count("requests")
        if self.service.take_unavailable():
            return self._error(StorageFault(503, "ServiceUnavailable", "try again later"))
        if self.service.latency:
            time.sleep(self.service.latency)
        url = urlsplit(self.path)
        for prefix, upstream in self.service.upstreams.items():
            if url.path.startswith(prefix):
                return self._forward(upstream, method, body)
        if not url.path.startswith(PREFIX):
            return self._error(StorageFault(404, "not_found", "Route not found"))
        parts = [unquote(p) for p in url.path[len(PREFIX):].split("/")]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            self._route(method, parts, query, body)
        except StorageFault as fault:
            self._error(fault)

    def _route(self, method: str, parts: list[str], query: dict[str, str], body: bytes) -> None:
        store = self.service
        if method == "GET" and parts[0] == "sign":  # signed URLs carry their own proof
            store.count("download_signed")
            store.check_token(parts[1], "/".join(parts[2:]), query.get("token", ""))
            return self._send_object(parts[1], "/".join(parts[2:]))
        self._authorize()
        head, rest = parts[0], parts[1:]
        if method == "POST" and head == "list":
            store.count("list")
            return self._json(store.list_v1(rest[0], json.loads(body or b"{}")))
        if method == "POST" and head == "list-v2":
            store.count("list_v2")
            return self._json(store.list_v2_page(rest[0], json.loads(body or b"{}")))
        if method == "POST" and head == "sign":
            return self._sign(rest, json.loads(body or b"{}"))
        if method == "GET":
            store.count("download")
            rest = parts[1:] if head == "authenticated" else parts
            return self._send_object(rest[0], "/".join(rest[1:]))
        if method == "DELETE":
            store.count("remove")
            return self._json(store.remove(head, json.loads(body or b"{}").get("prefixes", [])))
        if method in ("POST", "PUT"):
            store.count("upload")
            return self._upload(head, "/".join(rest), body, method)
        raise StorageFault(404, "not_found", "Route not found")

    def _authorize(self) -> None:
        expected = f"Bearer {self.service.service_key}"
        apikey_ok = self.headers.get("apikey") in (None, self.service.service_key)
        if self.headers.get("Authorization") != expected or not apikey_ok:
            raise StorageFault(401, "Unauthorized", "Invalid JWT")

    def _sign(self, rest: list[str], body: dict[str, Any]) -> None:
        store = self.service
        expires = int(body.get("expiresIn", 60))
        if len(rest) == 1:
            store.count("sign_batch")
            return self._json(store.sign_many(rest[0], list(body.get("paths", [])), expires))
        store.count("sign")
        key = "/".join(rest[1:])
        store._object(rest[0], key)
        self._json({"signedURL": store.sign(rest[0], key, expires)})

    def _upload(self, bucket: str, key: str, body: bytes, method: str) -> None:
        upsert = method == "PUT" or self.headers.get("x-upsert", "false") == "true"
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                data = part.get_payload(decode=True)
                assert isinstance(data, bytes)
                return self._json(self.service.upload(bucket, key, data, upsert))
        raise StorageFault(400, "InvalidRequest", "no file in the form")

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
    def _send_object(self, bucket: str, key: str) -> None:
        obj = self.service._object(bucket, key)
        data = obj.path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", mimetypes.guess_type(key)[0] or "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.service.should_drop(key):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(data)

    def _json(self, payload: Any, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, fault: StorageFault) -> None:
        self._json({"statusCode": str(fault.status), "error": fault.error,
                    "message": fault.message}, fault.status)
