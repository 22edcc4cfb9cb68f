"""The connection under the source: a drop mid-transfer is survived, deletes check the
bytes first. Real sshd sessions are killed, as a network cut would."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from mediasync.errors import SourceError
from mediasync.files import partial_path
from mediasync.model import MediaFile
from mediasync.settings import Settings, SftpSourceSettings
from mediasync.sources.sftp import SftpSource
from tests.helpers import sha256
from tests.sftp.sshd import Sshd


@pytest.fixture
def source(tmp_path: Path, sshd: Sshd) -> SftpSource:
    (tmp_path / "server").mkdir()
    config = SftpSourceSettings(host="127.0.0.1", port=sshd.port, key_file=sshd.user_key,
                                known_hosts=sshd.known_hosts, root=str(tmp_path / "server"))
    return SftpSource(config, Settings())


def test_connection_is_reused_and_replaced_after_a_drop(source: SftpSource, sshd: Sshd,
                                                        tmp_path: Path):
    (tmp_path / "server" / "a.jpg").write_bytes(b"a" * 1000)
    asset = next(source.list_assets())
    source.download(asset, tmp_path / "one.jpg")
    assert len(sshd.sessions()) >= 1
    assert sshd.drop_connections() >= 1

    got = source.download(asset, tmp_path / "two.jpg")
    assert got.sha256 == sha256(tmp_path / "server" / "a.jpg")


def test_download_survives_a_drop_mid_transfer(source: SftpSource, sshd: Sshd, tmp_path: Path):
    big = tmp_path / "server" / "VID.mp4"
    big.write_bytes(os.urandom(120_000_000))
    asset = next(source.list_assets())
    dest = tmp_path / "VID.mp4"
    dropped: list[int] = []

    def cut_when_half_there() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if partial_path(dest).exists() and partial_path(dest).stat().st_size > 16_000_000:
                dropped.append(sshd.drop_connections())
                return
            time.sleep(0.001)

    cutter = threading.Thread(target=cut_when_half_there)
    cutter.start()
    got = source.download(asset, dest)
    cutter.join()
    assert dropped and dropped[0] >= 1, "the transfer ended before the cut"
    assert got.size == big.stat().st_size and got.sha256 == sha256(big) == sha256(dest)
    assert not partial_path(dest).exists()


def _recorded(source: SftpSource, path: Path, content: bytes) -> MediaFile:
    return MediaFile(source=source.name, source_id=path.name, filename=path.name,
                     size=len(content), content_hash=hashlib.sha256(content).hexdigest())


def test_delete_removes_only_the_bytes_that_were_archived(source: SftpSource, tmp_path: Path):
    same, changed = tmp_path / "server" / "same.jpg", tmp_path / "server" / "changed.jpg"
    same.write_bytes(b"kept bytes")
    changed.write_bytes(b"new bytes")
    outcomes = source.delete([_recorded(source, same, b"kept bytes"),
                              _recorded(source, changed, b"old bytes"),
                              _recorded(source, tmp_path / "server" / "gone.jpg", b"x")])
    assert [(o.deleted, o.reason) for o in outcomes] == [
        (True, None), (False, "changed at the source since download"),
        (False, "already gone from the source")]
    assert not same.exists() and changed.read_bytes() == b"new bytes"


def test_missing_remote_root_is_a_source_error(source: SftpSource, tmp_path: Path):
    (tmp_path / "server").rmdir()
    with pytest.raises(SourceError, match="cannot list the remote root"):
        list(source.list_assets())
