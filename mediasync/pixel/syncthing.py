"""A small client for Syncthing's REST API (the parts mediasync needs).

Every failure leaves this module as a one-line SyncthingError (or ConfigError for a
malformed URL). The API key travels only in the X-API-Key header; no message, log line
or exception built here contains it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
from pydantic import SecretStr

from mediasync.errors import (
    ConfigError,
    SyncthingError,
    SyncthingFolderError,
    SyncthingKeyRejected,
    SyncthingUnreachable,
)
from mediasync.settings import SyncthingSettings

SCAN_CHUNK = 100  # names per targeted scan request, keeps the URL short
NEED_PAGE = 10_000
_NEVER = "1970-01-01T00:00:00Z"  # Syncthing's "last seen" for a device never seen


def short_id(device_id: str) -> str:
    return device_id.split("-", 1)[0]


def parse_time_ns(text: str) -> int:
    """RFC 3339 with up to nanoseconds (Go's format) -> Unix nanoseconds, exactly."""
    match = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        raise SyncthingError(f"Syncthing sent an unreadable time: {text!r}")
    base, fraction, zone = match.groups()
    seconds = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


@dataclass(frozen=True)
class FileVersion:
    """One device's record of a file (the `local` or `global` half of /rest/db/file)."""

    version: tuple[str, ...]
    size: int
    modified_ns: int
    deleted: bool
    invalid: bool  # ignored, invalid or flagged for rescan: not a usable copy

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FileVersion | None:
        if not data or not data.get("name") or not data.get("version"):
            return None
        return cls(
            version=tuple(data["version"]),
            size=int(data.get("size", 0)),
            modified_ns=parse_time_ns(data["modified"]),
            deleted=bool(data.get("deleted")),
            invalid=bool(data.get("invalid") or data.get("ignored") or data.get("mustRescan")),
        )

    @property
    def label(self) -> str:
        """The version vector as one string: what the ledger keeps as pixel_version."""
        return ",".join(self.version)


@dataclass(frozen=True)
class FileInfo:
    name: str
    global_: FileVersion | None
    local: FileVersion | None
    # devices holding the global version; only connected devices are listed
    availability: tuple[tuple[str, bool], ...]  # (device id, from a temporary index)

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> FileInfo:
        return cls(
            name=name,
            global_=FileVersion.from_json(data.get("global")),
            local=FileVersion.from_json(data.get("local")),
            availability=tuple((a["id"], bool(a.get("fromTemporary")))
                               for a in data.get("availability") or ()),
        )


@dataclass(frozen=True)
class FolderConfig:
    id: str
    label: str
    path: str
    type: str  # sendonly, sendreceive, receiveonly, receiveencrypted
    devices: tuple[str, ...]
    paused: bool
    marker: str  # the file Syncthing keeps at the folder's root

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FolderConfig:
        return cls(
            id=data["id"], label=data.get("label", ""), path=data.get("path", ""),
            type=data.get("type", ""), devices=tuple(d["deviceID"] for d in data["devices"]),
            paused=bool(data.get("paused")), marker=data.get("markerName") or ".stfolder",
        )


@dataclass(frozen=True)
class Completion:
    """/rest/db/completion: only a hint, it says 100 for a device that announced nothing."""

    completion: float
    need_items: int
    need_deletes: int
    sequence: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completion:
        return cls(float(data["completion"]), int(data.get("needItems", 0)),
                   int(data.get("needDeletes", 0)), int(data.get("sequence", 0)))


@dataclass(frozen=True)
class DeviceState:
    device_id: str
    known: bool  # configured on this Syncthing at all
    connected: bool
    paused: bool
    last_seen: str | None  # RFC 3339, None when never seen

    def describe(self) -> str:
        who = f"device {short_id(self.device_id)}"
        if not self.known:
            return f"{who} is not configured in Syncthing"
        if self.connected:
            return f"{who} connected"
        if self.paused:
            return f"{who} paused"
        if self.last_seen is None:
            return f"{who} not connected, never seen"
        return f"{who} not connected since {self.last_seen}"


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    time: str
    data: dict[str, Any]


class SyncthingClient:
    """One Syncthing instance's REST API. `calls` counts requests by "METHOD /path"."""

    def __init__(self, url: str, api_key: SecretStr, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.calls: Counter[str] = Counter()
        try:
            self._http = httpx.Client(
                base_url=self.url, timeout=timeout, transport=transport,
                headers={"X-API-Key": api_key.get_secret_value()},
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise ConfigError(f"syncthing.api_url is not a usable URL: {url!r}") from exc

    @classmethod
    def from_settings(cls, settings: SyncthingSettings) -> SyncthingClient:
        if settings.api_key is None or not settings.api_key.get_secret_value():
            raise ConfigError("syncthing.api_key is not set (Syncthing: Actions > Settings > "
                              "GUI > API Key)")
        return cls(settings.api_url, settings.api_key, timeout=settings.timeout_seconds)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncthingClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    # transport and status handling ------------------------------------------------------
    def _send(self, method: str, path: str, params: Any = None,
              read_timeout: float | None = None) -> httpx.Response:
        self.calls[f"{method} {path}"] += 1
        timeout = httpx.Timeout(self.timeout, read=read_timeout or self.timeout)
        try:
            return self._http.request(method, path, params=params, timeout=timeout)
        except httpx.UnsupportedProtocol as exc:
            raise ConfigError(f"syncthing.api_url is not a usable URL: {self.url!r}") from exc
        except httpx.TimeoutException as exc:
            raise SyncthingUnreachable(
                f"Syncthing at {self.url} did not answer {method} {path} within "
                f"{timeout.read}s") from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise SyncthingUnreachable(f"Syncthing unreachable at {self.url}: {reason}") from exc

    def _check(self, response: httpx.Response, folder: str | None = None) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (401, 403):
            raise SyncthingKeyRejected(
                f"Syncthing at {self.url} rejected the API key (HTTP {status}): "
                "check syncthing.api_key")
        body = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        if folder is not None and (status == 404 or "no such folder" in body.lower()):
            raise SyncthingFolderError(f"Syncthing at {self.url} has no folder {folder!r}")
        raise SyncthingError(f"Syncthing at {self.url}: {response.request.method} "
                             f"{response.url.path} failed with HTTP {status}: {body}")

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise SyncthingError(
                f"{self.url} answered {response.request.method} {response.url.path} with "
                "something other than JSON: is this Syncthing's GUI/API address?") from exc

    def _get(self, path: str, folder: str | None = None, **params: Any) -> Any:
        if folder is not None:
            params["folder"] = folder
        response = self._send("GET", path, params)
        self._check(response, folder)
        return self._json(response)

    # system -----------------------------------------------------------------------------
    def ping(self) -> None:
        self._get("/rest/system/ping")

    def system_status(self) -> dict[str, Any]:
        return dict(self._get("/rest/system/status"))

    def version(self) -> str:
        return str(self._get("/rest/system/version")["version"])

    def my_id(self) -> str:
        return str(self.system_status()["myID"])

    def connections(self) -> dict[str, dict[str, Any]]:
        return dict(self._get("/rest/system/connections")["connections"])

    def device_state(self, device_id: str) -> DeviceState:
        connection = self.connections().get(device_id)
        if connection is None:
            return DeviceState(device_id, False, False, False, None)
        seen = self._get("/rest/stats/device").get(device_id, {}).get("lastSeen")
        return DeviceState(device_id, True, bool(connection.get("connected")),
                           bool(connection.get("paused")),
                           None if seen in (None, _NEVER) else seen)

    # folders ----------------------------------------------------------------------------
    def folder_config(self, folder: str) -> FolderConfig:
        response = self._send("GET", f"/rest/config/folders/{folder}")
        self._check(response, folder)
        return FolderConfig.from_json(self._json(response))

    def folder_status(self, folder: str) -> dict[str, Any]:
        return dict(self._get("/rest/db/status", folder))

    def completion(self, folder: str, device_id: str) -> Completion:
        return Completion.from_json(self._get("/rest/db/completion", folder, device=device_id))

    def file_info(self, folder: str, name: str) -> FileInfo | None:
        """What Syncthing knows of one file; None when it is not in the index."""
        response = self._send("GET", "/rest/db/file", {"folder": folder, "file": name})
        if response.status_code == 404 and "no such folder" not in response.text.lower():
            return None
        self._check(response, folder)
        return FileInfo.from_json(name, self._json(response))

    def remote_need(self, folder: str, device_id: str) -> set[str]:
        """Names the device still needs, as far as its announced index tells."""
        names: set[str] = set()
        page = 1
        while True:
            data = self._get("/rest/db/remoteneed", folder, device=device_id, page=page,
                             perpage=NEED_PAGE)
            files = data.get("files") or []
            names.update(f["name"] for f in files)
            if len(files) < NEED_PAGE:
                return names
            page += 1

    def scan(self, folder: str, names: Sequence[str]) -> None:
        """Scan exactly these paths now (never the whole folder: no names, no request)."""
        for start in range(0, len(names), SCAN_CHUNK):
            params = [("folder", folder)] + [("sub", n) for n in names[start:start + SCAN_CHUNK]]
            # answers once the scan is done; a big batch may take a while to hash
            response = self._send("POST", "/rest/db/scan", params, read_timeout=self.timeout * 6)
            self._check(response, folder)

    # events -----------------------------------------------------------------------------
    def events(self, types: Iterable[str], since: int, timeout: float) -> list[Event]:
        """Long-poll: events of these types after `since`, waiting up to `timeout` seconds."""
        wait = max(0, math.ceil(timeout))
        response = self._send(
            "GET", "/rest/events",
            {"events": ",".join(types), "since": since, "timeout": wait},
            read_timeout=wait + self.timeout,
        )
        self._check(response)
        return [Event(int(e["id"]), e["type"], e.get("time", ""), e.get("data") or {})
                for e in self._json(response) or ()]

    def latest_event_id(self, types: Iterable[str]) -> int:
        """Where to start listening. Syncthing records a set of event types only from the
        first request for it, so this call also starts the recording."""
        response = self._send("GET", "/rest/events",
                              {"events": ",".join(types), "since": 0, "limit": 1, "timeout": 0})
        self._check(response)
        events = self._json(response) or []
        return int(events[-1]["id"]) if events else 0
