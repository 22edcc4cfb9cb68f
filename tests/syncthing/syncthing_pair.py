"""Real Syncthing instances on loopback for tests and benchmarks.

Each instance gets its own home, free ports, an API key, and every outside connection
off (discovery, relays, NAT, crash and usage reporting, upgrades). `computer` shares
folders send-only, `phone` receives them receive-only, as in a real set-up.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mediasync.pixel.phone import PixelTarget

SYNCTHING = shutil.which("syncthing") or "syncthing"
STARTUP_SECONDS = 30.0

_OPTIONS = {
    "globalAnnounceEnabled": "false",
    "localAnnounceEnabled": "false",
    "relaysEnabled": "false",
    "natEnabled": "false",
    "urAccepted": "-1",
    "crashReportingEnabled": "false",
    "autoUpgradeIntervalH": "0",
    "startBrowser": "false",
    "reconnectionIntervalS": "1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    """One Syncthing process with its home folder; stop() and start() keep the identity."""

    name: str
    home: Path
    api_port: int
    listen_port: int
    api_key: str
    device_id: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.listen_port}"

    def generate(self) -> None:
        subprocess.run(
            [SYNCTHING, "generate", "--home", str(self.home), "--no-default-folder",
             "--skip-port-probing"],
            check=True, capture_output=True,
        )
        tree = ET.parse(self.config_path)
        root = tree.getroot()
        own = root.find("device")
        assert own is not None
        self.device_id = own.attrib["id"]
        own.set("name", self.name)
        gui = root.find("gui")
        assert gui is not None
        _set(gui, "address", f"127.0.0.1:{self.api_port}")
        _set(gui, "apikey", self.api_key)
        options = root.find("options")
        assert options is not None
        _set(options, "listenAddress", self.address)
        for key, value in _OPTIONS.items():
            _set(options, key, value)
        tree.write(self.config_path)

    @property
    def config_path(self) -> Path:
        return self.home / "config.xml"

    def add_peer(self, other: Instance) -> None:
        """Before the first start: know the other device at its loopback address."""
        tree = ET.parse(self.config_path)
        root = tree.getroot()
        device = ET.Element("device", id=other.device_id, name=other.name,
                            compression="metadata", introducer="false")
        ET.SubElement(device, "address").text = other.address
        ET.SubElement(device, "paused").text = "false"
        ET.SubElement(device, "autoAcceptFolders").text = "false"
        root.insert(1, device)
        tree.write(self.config_path)

    def start(self) -> None:
        env = {**os.environ, "STMONITORED": "1", "STNOUPGRADE": "1", "STNODEFAULTFOLDER": "1"}
        log = open(self.home / "syncthing.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [SYNCTHING, "serve", "--home", str(self.home), "--no-browser", "--no-restart",
             "--no-upgrade"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"syncthing {self.name} exited: see {self.home}/syncthing.log")
            try:
                if self.get("/rest/system/ping").get("ping") == "pong":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"syncthing {self.name} did not answer within {STARTUP_SECONDS}s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # raw REST for test set-up (the code under test has its own client) -----------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = httpx.request(method, self.url + path, headers={"X-API-Key": self.api_key},
                                 timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def add_folder(self, folder_id: str, path: Path, folder_type: str,
                   peers: list[str], **extra: Any) -> None:
        path.mkdir(parents=True, exist_ok=True)
        folder = {
            "id": folder_id, "label": folder_id, "path": str(path), "type": folder_type,
            "devices": [{"deviceID": self.device_id}] + [{"deviceID": p} for p in peers],
            "rescanIntervalS": 3600, "fsWatcherEnabled": True, "fsWatcherDelayS": 1,
            **extra,
        }
        self.request("PUT", f"/rest/config/folders/{folder_id}", json=folder)

    def remove_folder(self, folder_id: str) -> None:
        self.request("DELETE", f"/rest/config/folders/{folder_id}")


def _set(parent: ET.Element, tag: str, text: str) -> None:
    element = parent.find(tag)
    if element is None:
        element = ET.SubElement(parent, tag)
    element.text = text


def make_instance(name: str, home: Path) -> Instance:
    instance = Instance(name, home, free_port(), free_port(), secrets.token_urlsafe(24))
    instance.generate()
    return instance


@dataclass
class Pair:
    computer: Instance
    phone: Instance

    def wait_connected(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            connections = self.computer.get("/rest/system/connections")["connections"]
            if connections.get(self.phone.device_id, {}).get("connected"):
                return
            time.sleep(0.1)
        raise RuntimeError("the two Syncthing instances did not connect")

    def unshare(self, folder_id: str) -> None:
        for instance in (self.computer, self.phone):
            if instance.running:
                instance.remove_folder(folder_id)

    def stop(self) -> None:
        self.computer.stop()
        self.phone.stop()


def start_pair(base: Path) -> Pair:
    computer = make_instance("computer", base / "computer")
    phone = make_instance("phone", base / "phone")
    computer.add_peer(phone)
    phone.add_peer(computer)
    pair = Pair(computer, phone)
    try:
        computer.start()
        phone.start()
        pair.wait_connected()
    except BaseException:
        pair.stop()
        raise
    return pair


@dataclass
class Shared:
    folder_id: str
    computer_dir: Path
    phone_dir: Path
    target: PixelTarget


def share_folder(pair: Pair, base: Path, **extra: object) -> Shared:
    folder_id = f"pixel-{uuid.uuid4().hex[:8]}"
    # where tests.helpers.Workspace's config puts the Pixel folder
    computer_dir, phone_dir = base / "workflow" / "pixel_sync", base / "phone"
    pair.computer.add_folder(folder_id, computer_dir, "sendonly", [pair.phone.device_id],
                             **extra)
    pair.phone.add_folder(folder_id, phone_dir, "receiveonly", [pair.computer.device_id],
                          **extra)
    return Shared(folder_id, computer_dir, phone_dir,
                  PixelTarget(computer_dir, folder_id, pair.phone.device_id))
