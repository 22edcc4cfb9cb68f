"""A local HTTPS stand-in for iCloud: Apple's sign-in (SRP, 2FA, 2SA, trust), the setup
service (accountLogin, validate, web access state) and the CloudKit Photos database
(records/query with startRank and continuationMarker paging, zones/list, the internal
count batch, records/modify with change tags, records/lookup), plus the asset download
URLs.

Records have the shapes of real CloudKit answers (as recorded in icloudpd's public test
cassettes): a RAW+JPEG master carries the JPEG as `resOriginalAlt*`; an asset edited in
Photos carries `adjustmentType` and its rendition on the CPLAsset (`resJPEGFull*`, for a
video or a live photo's motion also `resVidFull*`); a live photo's MOV is the master's
`resOriginalVidCompl*`, an adjustments sidecar (AAE) its `resSidecar*`. records/modify
answers each record back with its new change tag and its fields, or a per-record
`serverErrorCode`; `answer_delete` makes it answer as it sometimes does instead (`{}`
with 200, the record unchanged, a per-record error).

It speaks the JSON the real pyicloud 2026.x sends and expects, so pyicloud runs end to
end against it: `server.service_class()` is a `PyiCloudService` subclass whose endpoint
set-up points at this server. Faults (5xx/429 with Retry-After, short bodies, expired
sessions, conflicts) are configured per test.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import srp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyicloud import PyiCloudService

from tests.fakes.local_server import Served

# RFC 5054 2048-bit group, the one Apple's SRP uses.
_N = int(
    "AC6BDB41324A9A9BF166DE5E1389582FAF72B6651987EE07FC3192943DB56050A37329CBB4A099ED"
    "8193E0757767A13DD52312AB4B03310DCD7F48A9DA04FD50E8083969EDB767B0CF6095179A163AB3"
    "661A05FBD5FAAAE82918A9962F0B93B855F97993EC975EEAA80D740ADBF4FF747359D041D5C33EA7"
    "1D281E446B14773BCA97B43A23FB801676BD207A436C6481F1D2B9078717461A5B9D32E688F87748"
    "544523B524B0D57D5EA77A2775D2ECFA032CFBDBF52FB3786160279004E57AE6AF874E7303CE5329"
    "9CCC041C7BC308D82A5698F3A8D0C38271AE35F8E9DBFBB694B5C803D89F7AE435DE236D525F5475"
    "9B65E372FCD68EF20FA7111F9E4AFF73", 16)
_G = 2
SRP_ITERATIONS = 1000
PRIMARY_ZONE = "PrimarySync"
CK_PREFIX = "/ck/database/1/com.apple.photos.cloud/production"
ALL_PHOTOS_INDEX = "CPLAssetByAssetDateWithoutHiddenOrDeleted"
ALBUM_INDEX = "CPLContainerRelationNotDeletedByAssetDate"


# -- the photo library ---------------------------------------------------------------

@dataclass
class FakePhoto:
    """One CPLMaster + CPLAsset pair; a live photo carries its MOV beside the image."""

    record_name: str
    filename: str
    data: bytes
    created: dt.datetime
    file_type: str = "public.heic"
    live_video: bytes | None = None
    favorite: bool = False
    zone: str = PRIMARY_ZONE
    change_tag: str = "1"
    deleted: bool = False  # in Recently Deleted (isDeleted = 1)
    announced_size: int | None = None  # what the record claims, when it lies
    albums: tuple[str, ...] = ()
    alternative: bytes | None = None  # the JPEG of a RAW+JPEG pair (file_type is the RAW)
    sidecar: bytes | None = None  # an adjustments file (AAE) kept beside the original
    edited: bytes | None = None  # the rendition of an edit made in Photos
    adjustment_type: str = "com.apple.photo"  # who made the edit, when there is one

    @property
    def master_name(self) -> str:
        return f"M{self.record_name}"

    @property
    def is_video(self) -> bool:
        return self.file_type in ("com.apple.quicktime-movie", "public.mpeg-4")


def make_library(count: int, *, live_every: int = 10, video_every: int = 25,
                 favorite_every: int = 0, size: int = 300,
                 newest: dt.datetime | None = None) -> list[FakePhoto]:
    """`count` small assets a day apart, newest first; every `live_every`-th a live photo,
    every `video_every`-th a video (0: never). Bytes are deterministic per asset."""
    newest = newest or dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)
    photos = []
    for i in range(count):
        name = f"A{i:05d}"
        video = video_every and i % video_every == video_every - 1
        live = not video and live_every and i % live_every == live_every - 1
        body = _bytes(name, size + i)
        photos.append(FakePhoto(
            record_name=name,
            filename=f"IMG_{i:04d}.MOV" if video else f"IMG_{i:04d}.HEIC",
            data=body,
            created=newest - dt.timedelta(days=i),
            file_type="com.apple.quicktime-movie" if video else "public.heic",
            live_video=_bytes(name + "v", size * 2) if live else None,
            favorite=bool(favorite_every) and i % favorite_every == 0,
        ))
    return photos


def _bytes(seed: str, size: int) -> bytes:
    out = b""
    block = seed.encode()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return out[:size]


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


# -- faults --------------------------------------------------------------------------

@dataclass
class Fault:
    path_part: str
    status: int
    times: int
    retry_after: float | None = None
    method: str | None = None
    after: int = 0  # matching requests let through first


@dataclass
class Account:
    apple_id: str = "user@example.com"
    password: str = "correct horse battery staple"
    mode: str = "hsa2"  # "hsa2" (2FA code), "hsa1" (2SA device choice) or "none"
    code: str = "123456"
    dsid: str = "1234567890"


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class _State:
    account: Account
    photos: dict[str, FakePhoto] = field(default_factory=dict)
    albums: dict[str, str] = field(default_factory=dict)  # album record name -> name
    shared_zone: str | None = None
    faults: list[Fault] = field(default_factory=list)
    short_bodies: dict[str, int] = field(default_factory=dict)
    redirects: set[str] = field(default_factory=set)
    delete_answers: dict[str, str] = field(default_factory=dict)  # record -> how
    expired_status: int | None = None
    srp: dict[str, tuple[Any, bytes]] = field(default_factory=dict)
    session_tokens: dict[str, bool] = field(default_factory=dict)  # token -> trusted
    trust_tokens: set[str] = field(default_factory=set)
    webauth_tokens: set[str] = field(default_factory=set)
    issued: set[str] = field(default_factory=set)  # every token handed out
    code_ok: bool = False  # a verification code was accepted, trust may follow
    cookie_days: int = 60
    album_page_size: int = 2
    log: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeICloud(Served):
    """Run with `with FakeICloud() as server:`; `server.url` is its base URL."""

    def __init__(self, account: Account | None = None) -> None:
        self.state = _State(account or Account())
        self._dir = tempfile.TemporaryDirectory(prefix="fake-icloud-")
        self.ca_path = Path(self._dir.name) / "cert.pem"
        key_path = Path(self._dir.name) / "key.pem"
        _write_certificate(self.ca_path, key_path)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.state = self.state  # type: ignore[attr-defined]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_path, key_path)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{httpd.server_address[1]}"
        super().__init__(httpd)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._dir.cleanup()

    # -- set-up --------------------------------------------------------------------
    def add_photos(self, photos: list[FakePhoto]) -> None:
        with self.state.lock:
            for photo in photos:
                self.state.photos[photo.record_name] = photo

    def add_album(self, name: str, record_names: list[str]) -> str:
        album_id = f"ALBUM-{len(self.state.albums) + 1}"
        with self.state.lock:
            self.state.albums[album_id] = name
            for record in record_names:
                photo = self.state.photos[record]
                photo.albums = (*photo.albums, album_id)
        return album_id

    def enable_shared_library(self, zone: str = "SharedSync-ABCDEF") -> str:
        self.state.shared_zone = zone
        return zone

    def fail(self, path_part: str, status: int, times: int = 1,
             retry_after: float | None = None, method: str | None = None,
             after: int = 0) -> None:
        """After `after` of them, the next `times` requests whose path contains
        `path_part` get `status`."""
        with self.state.lock:
            self.state.faults.append(Fault(path_part, status, times, retry_after, method,
                                           after))

    def short_body(self, record_name: str, send: int) -> None:
        """Announce the full length for this asset's download, send `send` bytes, hang up."""
        self.state.short_bodies[record_name] = send

    def redirect_once(self, record_name: str) -> None:
        """The next download of this asset answers 302 to another URL, as a CDN may."""
        self.state.redirects.add(record_name)

    def expire_sessions(self, status: int = 421) -> None:
        """Every session minted so far stops working; requests get `status`."""
        with self.state.lock:
            self.state.expired_status = status
            self.state.session_tokens.clear()
            self.state.trust_tokens.clear()
            self.state.webauth_tokens.clear()

    def edit(self, record_name: str) -> None:
        """The asset changes on iCloud: its change tag moves on."""
        photo = self.state.photos[record_name]
        photo.change_tag = str(int(photo.change_tag) + 1)

    def answer_delete(self, record_name: str, how: str) -> None:
        """records/modify for this record changes nothing and answers 200 with `how`:
        "empty" (`{}`), "unchanged" (the record as it was) or a per-record
        serverErrorCode such as "SERVER_REJECTED_REQUEST"."""
        with self.state.lock:
            self.state.delete_answers[record_name] = how

    def purge(self, record_name: str) -> None:
        """The asset leaves Recently Deleted for good: lookups answer NOT_FOUND."""
        with self.state.lock:
            del self.state.photos[record_name]

    # -- what happened -------------------------------------------------------------
    def requests(self, path_end: str) -> list[Recorded]:
        """Requests whose path ends with `path_end`, e.g. "records/modify"."""
        with self.state.lock:
            return [r for r in self.state.log if r.path.endswith(path_end)]

    def downloads(self) -> list[str]:
        """The asset downloads asked for, as "<record>/<version>"."""
        with self.state.lock:
            return [r.path.removeprefix("/content/") for r in self.state.log
                    if r.method == "GET" and r.path.startswith("/content/")]

    def deleted(self) -> list[str]:
        return sorted(p.record_name for p in self.state.photos.values() if p.deleted)

    def secrets(self) -> list[str]:
        """The password and every token the server handed out, for leak scans."""
        with self.state.lock:
            return [self.state.account.password, *self.state.issued]

    def endpoints(self) -> dict[str, str]:
        """`icloud.endpoints` settings that point mediasync at this server."""
        return {"auth": f"{self.url}/appleauth/auth", "setup": f"{self.url}/setup/ws/1",
                "home": f"{self.url}/home", "ca_bundle": str(self.ca_path)}

    def service_class(self) -> type[PyiCloudService]:
        """PyiCloudService pointed at this server (its endpoint set-up overridden)."""
        base = self.url

        class LocalICloudService(PyiCloudService):
            def _setup_endpoints(self) -> None:
                self._idmsa_endpoint = f"{base}/idmsa"
                self._auth_endpoint = f"{base}/appleauth/auth"
                self._home_endpoint = f"{base}/home"
                self._setup_endpoint = f"{base}/setup/ws/1"

        return LocalICloudService


def _write_certificate(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-icloud.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


# -- SRP, the server side --------------------------------------------------------------

def _srp_password_key(password: str, salt: bytes) -> bytes:
    """What pyicloud's SrpPassword derives for protocol s2k."""
    return hashlib.pbkdf2_hmac("sha256", hashlib.sha256(password.encode()).digest(),
                               salt, SRP_ITERATIONS, 32)


def _srp_verifier(password: str, salt: bytes) -> bytes:
    # x = H(salt | H(":" | key)): Apple leaves the user name out of x
    inner = hashlib.sha256(b":" + _srp_password_key(password, salt)).digest()
    x = int.from_bytes(hashlib.sha256(salt + inner).digest(), "big")
    v = pow(_G, x, _N)
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


# -- the request handler -----------------------------------------------------------------

Route = Callable[["_Handler", dict[str, Any]], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave as separate writes
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return None

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    # plumbing ------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        body = self._read_json()
        with self.state.lock:
            self.state.log.append(Recorded(method, path, body))
        if self._injected_fault(method, path):
            return
        route = _ROUTES.get((method, path)) or self._cloudkit_route(method, path)
        if route is None:
            self._json(404, {"error": f"no route {method} {path}"})
            return
        route(self, body)

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _injected_fault(self, method: str, path: str) -> bool:
        with self.state.lock:
            for fault in self.state.faults:
                if fault.times > 0 and fault.path_part in path and (
                        fault.method is None or fault.method == method):
                    if fault.after:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    break
            else:
                return False
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None \
            else {}
        code = "THROTTLED" if fault.status == 429 else "TRY_AGAIN_LATER"
        self._json(fault.status, {"serverErrorCode": code, "reason": "injected fault"}, headers)
        return True

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None,
              cookies: list[str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        for cookie in cookies or []:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _cookie(self, name: str) -> str | None:
        jar = SimpleCookie(self.headers.get("Cookie") or "")
        return jar[name].value if name in jar else None

    def _new_token(self, prefix: str) -> str:
        token = f"{prefix}-{secrets.token_urlsafe(24)}"
        with self.state.lock:
            self.state.issued.add(token)
        return token

    # sign-in -------------------------------------------------------------------------
    def authorize_signin(self, body: Any) -> None:
        data = b"<html><body>sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def signin_init(self, body: dict[str, Any]) -> None:
        account = self.state.account
        if body.get("accountName") != account.apple_id:
            self._json(401, {"serviceErrors": [{"code": "-20101",
                                                "message": "Check the account information."}]})
            return
        # srp treats the salt as a number on the client side: a leading zero byte would
        # be dropped there and not here, and one sign-in in 256 would fail
        salt = bytes([secrets.randbelow(255) + 1]) + secrets.token_bytes(15)
        srp.rfc5054_enable()
        srp.no_username_in_x()
        verifier = srp.Verifier(account.apple_id, salt, _srp_verifier(account.password, salt),
                                base64.b64decode(body["a"]), hash_alg=srp.SHA256,
                                ng_type=srp.NG_2048)
        _, big_b = verifier.get_challenge()
        c = secrets.token_hex(8)
        self.state.srp[c] = (verifier, salt)
        self._json(200, {"iteration": SRP_ITERATIONS, "salt": base64.b64encode(salt).decode(),
                         "protocol": "s2k", "b": base64.b64encode(big_b).decode(), "c": c})

    def signin_complete(self, body: dict[str, Any]) -> None:
        verifier, _ = self.state.srp.pop(body.get("c", ""), (None, None))
        m2 = verifier.verify_session(base64.b64decode(body["m1"])) if verifier else None
        if m2 is None or base64.b64decode(body["m2"]) != m2:
            self._json(401, {"serviceErrors": [{"code": "-20101",
                                                "message": "Incorrect password."}]})
            return
        trusted = any(t in self.state.trust_tokens for t in body.get("trustTokens") or [])
        needs_code = self.state.account.mode == "hsa2" and not trusted
        token = self._new_token("session")
        self.state.session_tokens[token] = not needs_code and self.state.account.mode != "hsa1"
        headers = {"X-Apple-Session-Token": token, "scnt": self._new_token("scnt"),
                   "X-Apple-ID-Session-Id": self._new_token("sid"),
                   "X-Apple-ID-Account-Country": "USA"}
        if needs_code:
            self._json(409, {"authType": "hsa2"}, headers)
        else:
            self._json(200, {"authType": "non-sa"}, headers)

    def auth_options(self, body: Any) -> None:
        self._json(200, {"hasTrustedDevices": True, "authInitialRoute": "auth/verify/trusteddevice",
                         "authFactors": ["device"], "securityCode": {"length": 6}})

    def verify_device_code(self, body: dict[str, Any]) -> None:
        if (body or {}).get("securityCode", {}).get("code") != self.state.account.code:
            self._json(400, {"serviceErrors": [{"code": "-21669",
                                                "message": "Incorrect verification code."}]})
            return
        self.state.code_ok = True
        self._empty(204)

    def trust(self, body: Any) -> None:
        if not self.state.code_ok:
            self._json(401, {"serviceErrors": [{"code": "-20101", "message": "not verified"}]})
            return
        self.state.code_ok = False
        token, trust = self._new_token("session"), self._new_token("trust")
        self.state.session_tokens[token] = True
        self.state.trust_tokens.add(trust)
        self._empty(204, {"X-Apple-Session-Token": token, "X-Apple-TwoSV-Trust-Token": trust})

    # setup service -------------------------------------------------------------------
    def account_login(self, body: dict[str, Any]) -> None:
        token = (body or {}).get("dsWebAuthToken")
        if token not in self.state.session_tokens:
            self._expired()
            return
        trusted = self.state.session_tokens[token] or body.get("trustToken") in \
            self.state.trust_tokens
        webauth = self._new_token("webauth")
        self.state.webauth_tokens.add(webauth)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.state.cookie_days)
        stamp = expires.strftime("%a, %d %b %Y %H:%M:%S GMT")
        cookies = [f"X-APPLE-WEBAUTH-TOKEN={webauth}; Path=/; Secure; HttpOnly; "
                   f"Expires={stamp}",
                   f"X-APPLE-WEBAUTH-USER=v=1:s=1:d={self.state.account.dsid}; Path=/; "
                   f"Secure; Expires={stamp}"]
        self._json(200, self._account_data(trusted), cookies=cookies)

    def validate(self, body: Any) -> None:
        if self._cookie("X-APPLE-WEBAUTH-TOKEN") not in self.state.webauth_tokens:
            self._expired()
            return
        self._json(200, self._account_data(True))

    def _account_data(self, trusted: bool) -> dict[str, Any]:
        account = self.state.account
        hsa1 = account.mode == "hsa1"
        return {
            "dsInfo": {"dsid": account.dsid, "hsaVersion": 1 if hsa1 else 2,
                       "appleId": account.apple_id, "languageCode": "en-us"},
            "hsaChallengeRequired": not trusted,
            "hsaTrustedBrowser": trusted,
            "webservices": {"ckdatabasews": {"url": f"{self._base()}/ck", "status": "active"}},
            "apps": {},
        }

    def _base(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def _expired(self) -> None:
        status = self.state.expired_status or 421
        self._json(status, {"success": False, "error": "Missing X-APPLE-WEBAUTH-TOKEN cookie"})

    def web_access_state(self, body: Any) -> None:
        self._json(200, {"isICDRSDisabled": False, "isDeviceConsentedForPCS": True})

    def list_devices(self, body: Any) -> None:
        self._json(200, {"devices": [{"deviceType": "SMS", "areaCode": "",
                                      "phoneNumber": "********12", "deviceId": "1"}]})

    def send_code(self, body: Any) -> None:
        self._json(200, {"success": True})

    def validate_code(self, body: dict[str, Any]) -> None:
        if (body or {}).get("verificationCode") != self.state.account.code:
            self._json(400, {"errorCode": -21669, "errorMessage": "Incorrect code"})
            return
        self.state.code_ok = True
        self._json(200, {"success": True})

    # CloudKit ------------------------------------------------------------------------
    def _cloudkit_route(self, method: str, path: str) -> Route | None:
        if method == "GET" and path.startswith("/content/"):
            return _Handler.content
        if method != "POST" or not path.startswith(CK_PREFIX):
            return None
        operation = path.split("/", 7)[-1]
        return _CK_ROUTES.get(operation)

    def _authorized(self) -> bool:
        if self._cookie("X-APPLE-WEBAUTH-TOKEN") in self.state.webauth_tokens:
            return True
        status = self.state.expired_status or 401
        self._json(status, {"serverErrorCode": "AUTHENTICATION_REQUIRED",
                            "reason": "request needs authorization"})
        return False

    def _database(self) -> str:
        return "shared" if f"{CK_PREFIX}/shared/" in self.path else "private"

    def zones_list(self, body: Any) -> None:
        if not self._authorized():
            return
        zones = []
        if self._database() == "private":
            zones.append(PRIMARY_ZONE)
            if self.state.shared_zone:
                zones.append(self.state.shared_zone)
        self._json(200, {"zones": [{"zoneID": {"zoneName": z, "ownerRecordName": "_owner",
                                               "zoneType": "REGULAR_CUSTOM_ZONE"},
                                    "syncToken": "sync-1"} for z in zones]})

    def query(self, body: dict[str, Any]) -> None:
        if not self._authorized():
            return
        query = body["query"]
        record_type = query["recordType"]
        if record_type == "CheckIndexingState":
            self._json(200, {"records": [{"recordName": "_indexing",
                                          "recordType": "CheckIndexingState",
                                          "fields": {"state": {"value": "FINISHED",
                                                               "type": "STRING"}}}],
                             "syncToken": "sync-1"})
        elif record_type == "CPLAlbumByPositionLive":
            self._album_page(body)
        else:
            self._asset_page(body)

    def _album_page(self, body: dict[str, Any]) -> None:
        albums = [] if _filters(body["query"]).get("parentId") else \
            sorted(self.state.albums.items())
        start = int(body.get("continuationMarker") or 0)
        page = albums[start:start + self.state.album_page_size]
        payload: dict[str, Any] = {"records": [_album_record(i, n) for i, n in page],
                                   "syncToken": "sync-1"}
        if start + len(page) < len(albums):
            payload["continuationMarker"] = str(start + len(page))
        self._json(200, payload)

    def _asset_page(self, body: dict[str, Any]) -> None:
        filters = _filters(body["query"])
        ordered = self._ordered(body["zoneID"]["zoneName"], filters.get("parentId"))
        wanted = max(1, int(body.get("resultsLimit") or 200) // 2)
        rank = int(body.get("continuationMarker") or filters.get("startRank", 0))
        if filters.get("recordName"):
            page = [p for p in ordered if p.record_name == filters["recordName"]]
            following = None
        elif filters.get("direction") == "DESCENDING":
            low = max(0, rank - wanted + 1)
            page = list(reversed(ordered[low:rank + 1]))
            following = low - 1 if low > 0 else None
        else:
            page = ordered[rank:rank + wanted]
            following = rank + wanted if rank + wanted < len(ordered) else None
        base = self._base()
        records = [r for p in page for r in (_master_record(p, base), _asset_record(p, base))]
        payload: dict[str, Any] = {"records": records, "syncToken": "sync-1"}
        if following is not None and page:
            payload["continuationMarker"] = str(following)
        self._json(200, payload)

    def _ordered(self, zone: str, album: str | None) -> list[FakePhoto]:
        with self.state.lock:
            photos = [p for p in self.state.photos.values() if p.zone == zone
                      and not p.deleted and (album is None or album in p.albums)]
        return sorted(photos, key=lambda p: (p.created, p.record_name))

    def count(self, body: dict[str, Any]) -> None:
        if not self._authorized():
            return
        batch = []
        for item in body["batch"]:
            index = item["query"]["filterBy"]["fieldValue"]["value"][0]
            album = index.split(":", 1)[1] if index.startswith(ALBUM_INDEX + ":") else None
            total = len(self._ordered(item["zoneID"]["zoneName"], album))
            batch.append({"records": [{"recordName": f"count-{index}",
                                       "recordType": "HyperionIndexCountLookup",
                                       "fields": {"itemCount": {"value": total,
                                                                "type": "INT64"}}}]})
        self._json(200, {"batch": batch})

    def modify(self, body: dict[str, Any]) -> None:
        if not self._authorized():
            return
        records = []
        for operation in body["operations"]:
            record = operation["record"]
            photo = self.state.photos.get(record["recordName"])
            how = self.state.delete_answers.get(record["recordName"])
            if how == "empty":
                self._json(200, {})
                return
            if how == "unchanged" and photo is not None:
                records.append(_asset_record(photo, self._base()))
            elif how is not None:
                records.append({"recordName": record["recordName"], "serverErrorCode": how,
                                "reason": "the server rejected the request"})
            elif photo is None or photo.deleted:
                records.append({"recordName": record["recordName"],
                                "serverErrorCode": "NOT_FOUND", "reason": "record not found"})
            elif record.get("recordChangeTag") != photo.change_tag:
                records.append({"recordName": photo.record_name, "serverErrorCode": "CONFLICT",
                                "reason": "record was changed since it was fetched"})
            else:
                if record.get("fields", {}).get("isDeleted", {}).get("value") == 1:
                    photo.deleted = True
                photo.change_tag = str(int(photo.change_tag) + 1)
                records.append(_asset_record(photo, self._base()))
        self._json(200, {"records": records})

    def lookup(self, body: dict[str, Any]) -> None:
        if not self._authorized():
            return
        by_name = {p.record_name: p for p in self.state.photos.values()}
        keys = body.get("desiredKeys")
        records = []
        for wanted in body["records"]:
            photo = by_name.get(wanted["recordName"])
            if photo is None:
                records.append({"recordName": wanted["recordName"], "reason": "Record not found",
                                "serverErrorCode": "NOT_FOUND"})
                continue
            record = _asset_record(photo, self._base())
            if keys is not None:
                record["fields"] = {k: v for k, v in record["fields"].items() if k in keys}
            records.append(record)
        self._json(200, {"records": records, "syncToken": "sync-1"})

    def content(self, body: Any) -> None:
        if not self._authorized():
            return
        url = urlsplit(self.path)
        _, _, record_name, version = url.path.split("/", 3)
        if record_name in self.state.redirects and not url.query:
            self.state.redirects.discard(record_name)
            self._empty(302, {"Location": f"{url.path}?moved=1"})
            return
        photo = self.state.photos.get(record_name)
        if photo is None:
            self._json(404, {"error": "no such asset"})
            return
        data = {"video": photo.live_video, "alternative": photo.alternative,
                "edited": photo.edited, "sidecar": photo.sidecar}.get(version, photo.data)
        send = self.state.short_bodies.get(record_name)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data or b"")))
        if send is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write((data or b"")[:send] if send is not None else data or b"")
        if send is not None:
            self.close_connection = True


def _filters(query: dict[str, Any]) -> dict[str, Any]:
    return {f["fieldName"]: f["fieldValue"]["value"] for f in query.get("filterBy") or []}


def _zone(photo: FakePhoto) -> dict[str, str]:
    return {"zoneName": photo.zone, "ownerRecordName": "_owner",
            "zoneType": "REGULAR_CUSTOM_ZONE"}


def _asset_token(photo: FakePhoto, base: str, version: str, data: bytes,
                 size: int | None = None) -> dict[str, Any]:
    return {"value": {"fileChecksum": hashlib.sha1(data).hexdigest(),
                      "size": size if size is not None else len(data),
                      "wrappingKey": "wk==", "referenceChecksum": "rc==",
                      "downloadURL": f"{base}/content/{photo.record_name}/{version}"},
            "type": "ASSETID"}


def _master_record(photo: FakePhoto, base: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "filenameEnc": {"value": base64.b64encode(photo.filename.encode()).decode(),
                        "type": "ENCRYPTED_BYTES"},
        "itemType": {"value": photo.file_type, "type": "STRING"},
        "resOriginalFileType": {"value": photo.file_type, "type": "STRING"},
        "resOriginalRes": _asset_token(photo, base, "original", photo.data,
                                       photo.announced_size),
        "resOriginalWidth": {"value": 4032, "type": "INT64"},
        "resOriginalHeight": {"value": 3024, "type": "INT64"},
    }
    if photo.live_video is not None:
        fields.update(_resource(photo, base, "resOriginalVidCompl", "video", photo.live_video,
                                "com.apple.quicktime-movie"))
    if photo.alternative is not None:
        fields.update(_resource(photo, base, "resOriginalAlt", "alternative",
                                photo.alternative, "public.jpeg"))
    if photo.sidecar is not None:
        fields.update(_resource(photo, base, "resSidecar", "sidecar", photo.sidecar,
                                "com.apple.photos.adjustment-data"))
    return {"recordName": photo.master_name, "recordType": "CPLMaster", "fields": fields,
            "recordChangeTag": "m1", "deleted": False, "zoneID": _zone(photo)}


def _resource(photo: FakePhoto, base: str, prefix: str, version: str, data: bytes,
              file_type: str) -> dict[str, Any]:
    """One resource's fields as CloudKit gives them: the asset token and its file type."""
    return {f"{prefix}Res": _asset_token(photo, base, version, data),
            f"{prefix}FileType": {"value": file_type, "type": "STRING"},
            f"{prefix}Fingerprint": {"value": hashlib.sha1(data).hexdigest(),
                                     "type": "STRING"}}


def _asset_record(photo: FakePhoto, base: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "assetDate": {"value": _ms(photo.created), "type": "TIMESTAMP"},
        "addedDate": {"value": _ms(photo.created), "type": "TIMESTAMP"},
        "isFavorite": {"value": int(photo.favorite), "type": "INT64"},
        "isHidden": {"value": 0, "type": "INT64"},
        "isDeleted": {"value": int(photo.deleted), "type": "INT64"},
        "adjustmentRenderType": {"value": 0, "type": "INT64"},
        "masterRef": {"value": {"recordName": photo.master_name, "action": "DELETE_SELF",
                                "zoneID": _zone(photo)}, "type": "REFERENCE"},
    }
    if photo.edited is not None:
        fields.update(_edit_fields(photo, base))
    return {"recordName": photo.record_name, "recordType": "CPLAsset", "fields": fields,
            "recordChangeTag": photo.change_tag, "deleted": False, "zoneID": _zone(photo)}


def _edit_fields(photo: FakePhoto, base: str) -> dict[str, Any]:
    """An edit lives on the CPLAsset: its type and the rendered result, a JPEG for a
    photo, a video for a video or a live photo's motion."""
    assert photo.edited is not None
    fields: dict[str, Any] = {"adjustmentType": {"value": photo.adjustment_type,
                                                 "type": "STRING"}}
    if not photo.is_video:
        fields.update(_resource(photo, base, "resJPEGFull", "edited", photo.edited,
                                "public.jpeg"))
    if photo.is_video or photo.live_video is not None:
        fields.update(_resource(photo, base, "resVidFull", "edited", photo.edited,
                                "com.apple.quicktime-movie"))
    return fields


def _album_record(album_id: str, name: str) -> dict[str, Any]:
    return {"recordName": album_id, "recordType": "CPLAlbum", "recordChangeTag": "a1",
            "fields": {"albumNameEnc": {"value": base64.b64encode(name.encode()).decode(),
                                        "type": "ENCRYPTED_BYTES"},
                       "albumType": {"value": 0, "type": "INT64"},
                       "isDeleted": {"value": 0, "type": "INT64"},
                       "sortAscending": {"value": 1, "type": "INT64"},
                       "position": {"value": 1024, "type": "INT64"}}}


_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/appleauth/auth/authorize/signin"): _Handler.authorize_signin,
    ("POST", "/appleauth/auth/signin/init"): _Handler.signin_init,
    ("POST", "/appleauth/auth/signin/complete"): _Handler.signin_complete,
    ("GET", "/appleauth/auth"): _Handler.auth_options,
    ("POST", "/appleauth/auth/verify/trusteddevice/securitycode"): _Handler.verify_device_code,
    ("GET", "/appleauth/auth/2sv/trust"): _Handler.trust,
    ("POST", "/setup/ws/1/accountLogin"): _Handler.account_login,
    ("POST", "/setup/ws/1/validate"): _Handler.validate,
    ("POST", "/setup/ws/1/requestWebAccessState"): _Handler.web_access_state,
    ("GET", "/setup/ws/1/listDevices"): _Handler.list_devices,
    ("POST", "/setup/ws/1/sendVerificationCode"): _Handler.send_code,
    ("POST", "/setup/ws/1/validateVerificationCode"): _Handler.validate_code,
}
_CK_ROUTES: dict[str, Route] = {
    "zones/list": _Handler.zones_list,
    "records/query": _Handler.query,
    "internal/records/query/batch": _Handler.count,
    "records/modify": _Handler.modify,
    "records/lookup": _Handler.lookup,
}
