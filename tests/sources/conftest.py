"""Every source kind behind one harness, so that each conformance case runs on all four:
a folder, SFTP on a real sshd, the iCloud double through pyicloud and the Storage double
through supabase-py. Each source is built as a user gets it: a config file, loaded
settings, `build_source`.

A harness places assets at the service and makes it misbehave the way that service can:
a body cut short, fewer bytes than listed, new bytes under the same id, a delete refused.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediasync.cli.demo import DEMO_CONFIG
from mediasync.ledger import open_ledger
from mediasync.model import MediaFile, SourceAsset, Stage
from mediasync.pipeline.run import run_pipeline
from mediasync.settings import Settings, load_settings
from mediasync.sources import build_source
from mediasync.sources.base import Source
from mediasync.sources.icloud import LIVE_VIDEO_SUFFIX
from tests.bucket.conftest import BUCKET, KEY
from tests.fakes.icloud_server import FakeICloud, FakePhoto
from tests.fakes.storage_server import FakeStorage
from tests.icloud.conftest import endpoints_toml, sign_in
from tests.sftp.sshd import Sshd, start_sshd
from tests.sources.relay import Relay

KINDS = ("folder", "sftp", "icloud", "bucket")
FOLDER_SOURCE = 'kind = "folder"\npath = "library"'


def write_config(root: Path, kind: str, extra: str) -> Settings:
    """The demo's installation with its source switched to `kind`."""
    assert FOLDER_SOURCE in DEMO_CONFIG
    source = FOLDER_SOURCE if kind == "folder" else f'kind = "{kind}"'
    (root / "nas_archive").mkdir(parents=True, exist_ok=True)
    config = root / "mediasync.toml"
    config.write_text(DEMO_CONFIG.replace(FOLDER_SOURCE, source) + extra)
    return load_settings(config)


@dataclass(kw_only=True)
class Harness(ABC):
    settings: Settings
    page: int | None  # assets in one page of the service's listing; None: no pages
    _source: Source | None = field(default=None, init=False)

    @property
    def source(self) -> Source:
        if self._source is None:
            self._source = build_source(self.settings)
        return self._source

    def listed(self) -> dict[str, SourceAsset]:
        return {asset.source_id: asset for asset in self.source.list_assets()}

    def downloaded(self) -> dict[str, MediaFile]:
        """Step 1 run for real (no Prefect): the ledger rows it leaves, by source id."""
        run = run_pipeline(self.settings, f"conformance-{uuid.uuid4().hex[:8]}", 1, 1)
        assert run.completed, run.message
        ledger = open_ledger(self.settings.ledger.url, self.settings.base_dir)
        try:
            rows = ledger.files_at([Stage.DOWNLOADED], source=self.source.name)
        finally:
            ledger.close()
        return {row.source_id: row for row in rows}

    # what each kind answers in its own way -----------------------------------------
    @abstractmethod
    def put(self, path: str, data: bytes) -> str:
        """An asset at `path` (folders, then a name); returns its source id."""

    def put_live_photo(self, stem: str, image: bytes, video: bytes, sidecar: bytes) -> None:
        """A live photo `stem`.HEIC + `stem`.MOV with its adjustments sidecar: three files
        side by side, where the service keeps files."""
        for ext, data in (("HEIC", image), ("MOV", video), ("AAE", sidecar)):
            self.put(f"{stem}.{ext}", data)

    @abstractmethod
    def pages_read(self) -> int | None:
        """Listing pages the service answered so far; None where it cannot tell."""

    @abstractmethod
    def cut_short(self, asset: SourceAsset) -> None:
        """The next transfer of `asset` breaks off after part of its body."""

    @abstractmethod
    def transfers(self, asset: SourceAsset) -> int | None:
        """Transfers of `asset` the service began; None where it cannot tell."""

    @abstractmethod
    def shrink(self, asset: SourceAsset) -> None:
        """The service now holds fewer bytes under `asset` than it listed."""

    @abstractmethod
    def change(self, media: MediaFile) -> None:
        """New bytes under the same id, after the download."""

    @abstractmethod
    def refuse_deletes(self, media: MediaFile) -> None:
        """The service will say no when asked to delete it."""

    @abstractmethod
    def holds(self, source_id: str) -> bool:
        """Whether the service still holds the asset, by its own state."""

    def close(self) -> None:
        """Let go of the source's connections (those that hold any)."""
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


@dataclass(kw_only=True)
class FilesHarness(Harness):
    """A folder tree read in place. The service is the filesystem: a body cut short or
    shorter than listed is a file truncated after it was listed, a refusal a file the OS
    will not unlink."""

    served: Path
    _locked: list[Path] = field(default_factory=list, init=False)

    def put(self, path: str, data: bytes) -> str:
        target = self.served / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return path

    def pages_read(self) -> int | None:
        return None

    def cut_short(self, asset: SourceAsset) -> None:
        self._truncate(asset.source_id)

    def transfers(self, asset: SourceAsset) -> int | None:
        return None

    def shrink(self, asset: SourceAsset) -> None:
        self._truncate(asset.source_id)

    def _truncate(self, source_id: str) -> None:
        path = self.served / source_id
        stat = path.stat()
        os.truncate(path, stat.st_size // 2)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # only the size tells

    def change(self, media: MediaFile) -> None:
        path = self.served / media.source_id
        path.write_bytes(bytes(b ^ 0xFF for b in path.read_bytes()))

    def refuse_deletes(self, media: MediaFile) -> None:
        path = self.served / media.source_id
        if os.geteuid() == 0:  # root unlinks in any folder: only an immutable file stays
            subprocess.run(["chattr", "+i", str(path)], check=True)
            self._locked.append(path)
        else:
            path.parent.chmod(0o555)
            self._locked.append(path.parent)

    def holds(self, source_id: str) -> bool:
        return (self.served / source_id).exists()

    def close(self) -> None:
        super().close()
        for path in self._locked:
            if path.is_dir():
                path.chmod(0o755)
            else:
                subprocess.run(["chattr", "-i", str(path)], check=True)


@dataclass(kw_only=True)
class SftpHarness(FilesHarness):
    """The same tree through sshd, reached through a relay that cuts the connection
    mid-body on demand; a file shorter than listed is refused by the source's size check
    before it reads."""

    relay: Relay

    def cut_short(self, asset: SourceAsset) -> None:
        assert asset.size
        self.relay.cut_after(asset.size // 2)

    def transfers(self, asset: SourceAsset) -> int | None:
        return 1 + self.relay.cuts  # each cut makes the source start again


@dataclass(kw_only=True)
class ICloudHarness(Harness):
    """pyicloud against the iCloud double; an asset is a record, its id the record name."""

    icloud: FakeICloud
    _made: int = field(default=0, init=False)

    def _photo(self, name: str, data: bytes, **more: Any) -> FakePhoto:
        self._made += 1  # each one a minute older: the library lists newest first
        created = dt.datetime(2024, 6, 1, tzinfo=dt.UTC) - dt.timedelta(minutes=self._made)
        return FakePhoto(f"R{self._made:05d}", name, data, created, **more)

    def put(self, path: str, data: bytes) -> str:
        name = path.rsplit("/", 1)[-1]  # iCloud has no folders: the path is not kept
        file_type = "public.heic" if name.upper().endswith(".HEIC") else "public.jpeg"
        photo = self._photo(name, data, file_type=file_type)
        self.icloud.add_photos([photo])
        return photo.record_name

    def put_live_photo(self, stem: str, image: bytes, video: bytes, sidecar: bytes) -> None:
        self.icloud.add_photos([self._photo(f"{stem}.HEIC", image, live_video=video,
                                            sidecar=sidecar)])

    def pages_read(self) -> int | None:
        return sum(1 for r in self.icloud.requests("records/query")
                   if r.body["query"]["recordType"] not in ("CheckIndexingState",
                                                            "CPLAlbumByPositionLive"))

    def _record(self, source_id: str) -> FakePhoto:
        return self.icloud.state.photos[source_id.removesuffix(LIVE_VIDEO_SUFFIX)]

    def cut_short(self, asset: SourceAsset) -> None:
        assert asset.size
        self.icloud.short_body(self._record(asset.source_id).record_name, asset.size // 2)

    def transfers(self, asset: SourceAsset) -> int | None:
        record = self._record(asset.source_id).record_name
        return sum(1 for d in self.icloud.downloads() if d.split("/")[0] == record)

    def shrink(self, asset: SourceAsset) -> None:
        photo = self._record(asset.source_id)
        photo.data = photo.data[: len(photo.data) // 2]

    def change(self, media: MediaFile) -> None:
        self.icloud.edit(self._record(media.source_id).record_name)

    def refuse_deletes(self, media: MediaFile) -> None:
        self.icloud.answer_delete(self._record(media.source_id).record_name,
                                  "SERVER_REJECTED_REQUEST")

    def holds(self, source_id: str) -> bool:
        photo = self.icloud.state.photos.get(source_id.removesuffix(LIVE_VIDEO_SUFFIX))
        return photo is not None and not photo.deleted


@dataclass(kw_only=True)
class BucketHarness(Harness):
    """supabase-py against the Storage double; an asset is an object, its id the key."""

    store: FakeStorage

    def put(self, path: str, data: bytes) -> str:
        self.store.put(BUCKET, path, data)
        return path

    def pages_read(self) -> int | None:
        return self.store.calls["list_v2"]

    def cut_short(self, asset: SourceAsset) -> None:
        self.store.drop_once.add(asset.source_id)

    def transfers(self, asset: SourceAsset) -> int | None:
        return self.store.calls["download"]  # the one object the case downloads

    def shrink(self, asset: SourceAsset) -> None:
        path = self.store.root / BUCKET / asset.source_id
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def change(self, media: MediaFile) -> None:
        path = self.store.root / BUCKET / media.source_id
        self.store.put(BUCKET, media.source_id, path.read_bytes() + b"edited")

    def refuse_deletes(self, media: MediaFile) -> None:
        self.store.undeletable.add(media.source_id)  # as a row-level security policy does

    def holds(self, source_id: str) -> bool:
        return source_id in self.store.keys(BUCKET)


@pytest.fixture(scope="session")
def sources_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = start_sshd(tmp_path_factory.mktemp("sources-sshd"))
    yield server
    server.stop()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with ExitStack() as stack:
        harness = _harness(request, tmp_path, stack)
        stack.callback(harness.close)
        yield harness


def _harness(request: pytest.FixtureRequest, root: Path, stack: ExitStack) -> Harness:
    if request.param == "folder":
        (root / "library").mkdir()
        return FilesHarness(settings=write_config(root, "folder", ""), page=None,
                            served=root / "library")
    if request.param == "sftp":
        sshd: Sshd = request.getfixturevalue("sources_sshd")
        relay = stack.enter_context(Relay(sshd.port))
        served = root / "server"
        served.mkdir()
        host_key = " ".join(sshd.host_key.with_suffix(".pub").read_text().split()[:2])
        known_hosts = root / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{relay.port} {host_key}\n")
        settings = write_config(root, "sftp", f"""
[sftp.source]
host = "127.0.0.1"
port = {relay.port}
key_file = "{sshd.user_key}"
known_hosts = "{known_hosts}"
root = "{served}"
""")
        # OpenSSH's sftp-server answers a folder listing 100 names at a time
        return SftpHarness(settings=settings, page=100, served=served, relay=relay)
    if request.param == "icloud":
        server = stack.enter_context(FakeICloud())
        settings = write_config(root, "icloud", f"""
[guards]
delete_interval_seconds = 0

[icloud]
username = "{server.state.account.apple_id}"
backoff_seconds = 0.01
max_backoff_seconds = 0.05

""" + endpoints_toml(server))
        sign_in(settings, server)
        return ICloudHarness(settings=settings, page=100, icloud=server)  # pyicloud's page
    storage = stack.enter_context(FakeStorage(root / "remote", BUCKET, KEY))
    settings = write_config(root, "bucket", f"""
[bucket]
url = "{storage.url}"
service_key = "{KEY}"
bucket = "{BUCKET}"
""")
    return BucketHarness(settings=settings, page=1000, store=storage)  # list-v2's page
