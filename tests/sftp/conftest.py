"""A real OpenSSH server for the session, and workspaces whose source or archive is it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mediasync.model import MediaFile
from mediasync.nas.sftp import SftpArchive
from mediasync.settings import Settings, SftpArchiveSettings
from tests.helpers import Workspace
from tests.sftp.sshd import Sshd, start_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@dataclass
class SftpWorkspace(Workspace):
    """A workspace whose source folder and NAS are reached through sshd."""

    @property
    def server(self) -> Path:  # what the SFTP source serves
        return self.root / "server"

    @property
    def remote_nas(self) -> Path:  # what the SFTP archive writes to
        return self.root / "remote_nas"


def endpoint_toml(section: str, sshd: Sshd, root: Path, known_hosts: Path | None = None,
                  key_file: Path | None = None, extra: str = "") -> str:
    return (f'\n[{section}]\nhost = "127.0.0.1"\nport = {sshd.port}\n'
            f'key_file = "{key_file or sshd.user_key}"\n'
            f'known_hosts = "{known_hosts or sshd.known_hosts}"\nroot = "{root}"\n{extra}')


def archive_on(server: Sshd, root: Path, **options: Any) -> SftpArchive:
    """The SFTP archive at `root` on `server`, not checked yet; `options`: more settings."""
    config = SftpArchiveSettings(**{"host": "127.0.0.1", "port": server.port,
                                    "key_file": server.user_key,
                                    "known_hosts": server.known_hosts, "root": str(root),
                                    **options})
    return SftpArchive(config, Settings())


@pytest.fixture
def sftp_workspace(tmp_path: Path, sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> SftpWorkspace:
    """Source and archive both over SFTP (the archive can be switched off per test)."""
    (tmp_path / "server").mkdir()
    (tmp_path / "remote_nas").mkdir()
    config = (endpoint_toml("sftp.source", sshd, tmp_path / "server",
                            extra='include = ["*.jpg", "*.mp4"]\n')
              + endpoint_toml("sftp.archive", sshd, tmp_path / "remote_nas"))
    Workspace.create(tmp_path, config)
    monkeypatch.setenv("MEDIASYNC_SOURCE__KIND", "sftp")
    return SftpWorkspace(tmp_path)


def make_tree(root: Path, count: int, size: int = 4096, prefix: str = "IMG") -> list[Path]:
    """`count` distinct files spread over nested folders."""
    made = []
    for i in range(count):
        folder = root / f"trip{i % 4}" / f"day{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{prefix}_{i:04d}.jpg"
        path.write_bytes(os.urandom(size))
        made.append(path)
    return made


def recorded(path: Path, body: bytes, captured_at: datetime) -> MediaFile:
    """A working copy on disk and its ledger row, as step 1 leaves them."""
    path.write_bytes(body)
    return MediaFile(source="test", source_id=path.name, filename=path.name, size=len(body),
                     content_hash=hashlib.sha256(body).hexdigest(), captured_at=captured_at,
                     local_path=str(path))
