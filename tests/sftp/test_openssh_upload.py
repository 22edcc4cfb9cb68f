"""File bytes sent through OpenSSH's sftp program: chosen when it is there and connects,
the built-in client otherwise; a killed sftp process costs a retry, never a wrong file."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from mediasync.errors import ArchiveError
from mediasync.files import PARTIAL_SUFFIX
from mediasync.nas.openssh_put import quoted
from tests.sftp.conftest import archive_on, recorded
from tests.sftp.sshd import Sshd

WHEN = datetime(2024, 5, 6, tzinfo=UTC)
OPENSSH = "by OpenSSH's sftp over 4 connections"


def _sftp_children() -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(os.getpid()), "-x", "sftp"],
                           capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    (tmp_path / "nas").mkdir()
    return tmp_path / "nas"


def test_openssh_carries_the_bytes_and_its_processes_end_with_the_archive(
        tmp_path: Path, nas: Path, sshd: Sshd):
    archive = archive_on(sshd, nas)
    archive.check()
    assert archive.uploads == OPENSSH
    assert _sftp_children(), "no sftp process started"
    bodies = {f"IMG_{i}.jpg": os.urandom(300_000 + i) for i in range(6)}
    for name, body in bodies.items():
        media = recorded(tmp_path / name, body, WHEN)
        stored = archive.store(tmp_path / name, media, name)
        assert Path(str(stored.path)).read_bytes() == body
    archive.close()
    assert _sftp_children() == []
    assert sorted(p.name for p in nas.rglob("*") if p.is_file()) == sorted(bodies)


def test_a_server_allowing_fewer_connections_gets_fewer_lanes(
        tmp_path: Path, nas: Path, sshd: Sshd, monkeypatch: pytest.MonkeyPatch):
    """Two connections allowed: the other lanes are refused as a server would (the
    connection closed before login); the two that connect carry every file."""
    real = shutil.which("sftp")
    assert real, "OpenSSH's sftp is not installed (scripts/test.sh installs it)"
    wrapper = tmp_path / "bin" / "sftp"
    wrapper.parent.mkdir()
    wrapper.write_text(f"""#!/bin/sh
for slot in 1 2; do mkdir "{tmp_path}/slot$slot" 2>/dev/null && exec {real} "$@"; done
echo "Connection closed by 127.0.0.1 port {sshd.port}" >&2
exit 255
""")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    archive = archive_on(sshd, nas)
    archive.check()
    assert archive.uploads == "by OpenSSH's sftp over 2 connections"
    bodies = {f"IMG_{i}.jpg": os.urandom(200_000 + i) for i in range(12)}

    def store(name: str) -> bytes:
        media = recorded(tmp_path / name, bodies[name], WHEN)
        return Path(str(archive.store(tmp_path / name, media, name).path)).read_bytes()

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(store, bodies)) == list(bodies.values())
    assert len(_sftp_children()) == 2
    archive.close()


def test_killed_sftp_process_is_retried_and_leaves_no_partial_file(
        tmp_path: Path, nas: Path, sshd: Sshd):
    archive = archive_on(sshd, nas)
    archive.check()
    body = os.urandom(64_000_000)
    media = recorded(tmp_path / "big.mp4", body, WHEN)
    killed: list[int] = []

    def kill_mid_transfer() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            if any(p.stat().st_size > 0 for p in nas.rglob(f"*{PARTIAL_SUFFIX}")):
                for pid in _sftp_children():
                    os.kill(pid, 9)
                    killed.append(pid)
            time.sleep(0.001)

    killer = threading.Thread(target=kill_mid_transfer)
    killer.start()
    stored = archive.store(tmp_path / "big.mp4", media, "big.mp4")
    killer.join()
    archive.close()

    assert killed, "the transfer ended before it could be killed"
    assert Path(str(stored.path)).read_bytes() == body
    assert [p.name for p in nas.rglob("*") if p.is_file()] == ["big.mp4"]


def test_a_put_sftp_refuses_is_a_clear_error_and_nothing_is_named(
        tmp_path: Path, nas: Path, sshd: Sshd):
    archive = archive_on(sshd, nas)
    archive.check()
    first = recorded(tmp_path / "a.jpg", b"first", WHEN)
    archive.store(tmp_path / "a.jpg", first, "a.jpg")
    shutil.rmtree(nas / "2024")  # the day's folder vanishes after it was made
    second = recorded(tmp_path / "b.jpg", b"second", WHEN)
    with pytest.raises(ArchiveError) as caught:
        archive.store(tmp_path / "b.jpg", second, "b.jpg")
    archive.close()
    message = str(caught.value)
    assert "cannot write" in message and "No such file" in message, message
    assert list(nas.iterdir()) == []


def test_without_sftp_program_auto_uses_the_built_in_client_and_openssh_refuses(
        tmp_path: Path, nas: Path, sshd: Sshd, monkeypatch: pytest.MonkeyPatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    archive = archive_on(sshd, nas)
    archive.check()
    assert archive.uploads == "by the built-in client (no sftp program on PATH" \
                              " (package openssh-client))"
    media = recorded(tmp_path / "a.jpg", b"bytes", WHEN)
    assert Path(str(archive.store(tmp_path / "a.jpg", media, "a.jpg").path)).read_bytes() == (
        b"bytes")
    with pytest.raises(ArchiveError, match="upload = openssh, but no sftp program on PATH"):
        archive_on(sshd, nas, upload="openssh").check()


def test_a_key_with_a_passphrase_and_upload_asyncssh_keep_the_built_in_client(
        tmp_path: Path, nas: Path, sshd: Sshd):
    locked = tmp_path / "locked_key"  # the server's user key under a passphrase
    asyncssh.read_private_key(sshd.user_key).write_private_key(
        locked, "pkcs8-pem", passphrase="s3cret-pass")
    archive = archive_on(sshd, nas, key_file=locked, key_passphrase="s3cret-pass")
    archive.check()
    assert archive.uploads == ("by the built-in client (OpenSSH's sftp would ask for the"
                               " key's passphrase)")
    assert _sftp_children() == []
    chosen = archive_on(sshd, nas, upload="asyncssh")
    chosen.check()
    assert chosen.uploads == "by the built-in client (upload = asyncssh)"
    media = recorded(tmp_path / "a.jpg", b"bytes", WHEN)
    assert Path(str(chosen.store(tmp_path / "a.jpg", media, "a.jpg").path)).read_bytes() == (
        b"bytes")


def test_an_unknown_host_key_stops_openssh_too(tmp_path: Path, nas: Path, sshd: Sshd):
    """asyncssh trusts the known_hosts file; the sftp program must read the same one."""
    archive = archive_on(sshd, nas, upload="openssh")
    archive.check()
    archive.close()
    (tmp_path / "empty_known_hosts").write_text("")
    archive.link.known_hosts = tmp_path / "empty_known_hosts"  # after asyncssh connected
    with pytest.raises(ArchiveError, match="upload = openssh, but it cannot connect: "
                                           "OpenSSH sftp: .*Host key verification failed"):
        archive.check()


def test_key_and_known_hosts_paths_with_spaces_and_percent_signs(
        tmp_path: Path, nas: Path, sshd: Sshd):
    keys = tmp_path / "my keys 100%d"
    keys.mkdir()
    key, known = keys / "user key", keys / "known hosts"
    shutil.copy(sshd.user_key, key)
    shutil.copy(sshd.known_hosts, known)
    archive = archive_on(sshd, nas, key_file=key, known_hosts=known, upload="openssh")
    archive.check()
    assert archive.uploads == OPENSSH
    media = recorded(tmp_path / "a.jpg", b"bytes", WHEN)
    assert Path(str(archive.store(tmp_path / "a.jpg", media, "a.jpg").path)).read_bytes() == (
        b"bytes")
    archive.close()


def test_batch_arguments_are_quoted_and_a_newline_is_refused():
    assert quoted('a "b" \\c *?[d].jpg') == '"a \\"b\\" \\\\c *?[d].jpg"'
    with pytest.raises(ValueError):
        quoted("new\nline")
