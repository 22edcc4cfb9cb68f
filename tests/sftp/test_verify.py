"""How the SFTP archive re-reads what it wrote: with the fastest tool the server has that
hashes right (python3's hashlib, else openssl, else sha256sum), else by reading back over
SFTP. Servers with fewer tools are real sshd instances whose sessions get a PATH holding
only the programs a test gives them (sshd's SetEnv)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mediasync.errors import ArchiveError
from mediasync.files import PARTIAL_SUFFIX
from mediasync.settings import SftpArchiveSettings
from tests.sftp.conftest import archive_on, recorded
from tests.sftp.sshd import Sshd, start_sshd

WHEN = datetime(2024, 5, 6, tzinfo=UTC)
# Names the shell, the tools' own escaping (sha256sum escapes a backslash) and option
# parsing could trip over; a newline cannot be one line to the hasher: read back.
ODD_NAMES = ["two  spaces.jpg", "it's \"quoted\" $(touch x) `y`.jpg", "back\\slash.jpg",
             "-dash.jpg", "--.jpg", "café ü 日本.jpg", "new\nline.jpg"]
# Servers that change a temp file after it was written and before it is hashed; the write
# probe is not a temp file and stays intact. A tool started per file gets the path as its
# last argument; python3 reads the paths on its input, passed on after the change.
TAMPERING_TOOL = f"""#!/bin/sh
for p; do :; done
case "$p" in *{PARTIAL_SUFFIX}) printf changed >> "$p" ;; esac
exec {{real}} "$@"
"""
TAMPERING_PYTHON = f"""#!{{real}}
import subprocess, sys
hasher = subprocess.Popen(["{{real}}", *sys.argv[1:]], stdin=subprocess.PIPE)
for line in sys.stdin.buffer:
    if line[:-1].endswith(b"{PARTIAL_SUFFIX}"):
        with open(line[:-1], "ab") as f:
            f.write(b"changed")
    hasher.stdin.write(line)
    hasher.stdin.flush()
"""

ServerWith = Callable[..., Sshd]


def _installed(program: str) -> Path:
    if program == "python3":  # the interpreter itself, not a wrapper that needs a PATH
        return Path(sys.executable).resolve()
    found = shutil.which(program)
    assert found, f"{program} is not installed (scripts/test.sh installs it)"
    return Path(found)


@pytest.fixture
def server_with(tmp_path: Path) -> Iterator[ServerWith]:
    """Starts servers whose sessions find only `sh` and the given programs on PATH, as a
    NAS with few tools: name=a real program (linked) or a script's text."""
    started: list[Sshd] = []

    def start(**programs: Path | str) -> Sshd:
        home = tmp_path / f"sshd{len(started)}"
        tools = home / "bin"
        tools.mkdir(parents=True)
        for name, program in {"sh": _installed("sh"), **programs}.items():
            if isinstance(program, Path):
                (tools / name).symlink_to(program)
            else:
                (tools / name).write_text(program)
                (tools / name).chmod(0o755)
        # HOME too: a login shell's rc file in the real home could put more on PATH
        server = start_sshd(home, f"SetEnv PATH={tools} HOME={home}\n")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(params=["python3 hashlib", "openssl dgst", "sha256sum"])
def hashing_server(request: pytest.FixtureRequest, sshd: Sshd,
                   server_with: ServerWith) -> tuple[Sshd, str]:
    """A server and the hasher it should get: the session's server has every tool, the
    others lack python3, then openssl too."""
    if request.param == "python3 hashlib":
        return sshd, request.param
    if request.param == "openssl dgst":
        return server_with(openssl=_installed("openssl"),
                           sha256sum=_installed("sha256sum")), request.param
    return server_with(sha256sum=_installed("sha256sum")), request.param


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_each_hasher_verifies_adopts_and_tells_apart_odd_names(
        tmp_path: Path, hashing_server: tuple[Sshd, str]):
    server, tool = hashing_server
    (tmp_path / "nas").mkdir()
    archive = archive_on(server, tmp_path / "nas")
    archive.check()
    assert archive.hasher == tool
    assert archive.verification == f"by {tool} on the server"

    for i, name in enumerate(ODD_NAMES):
        body, other = os.urandom(1000), os.urandom(1000)  # same size, other bytes
        media = recorded(tmp_path / f"copy{i}", body, WHEN)
        stored = archive.store(tmp_path / f"copy{i}", media, name)
        assert stored.path.name == name and not stored.already_there
        assert Path(str(stored.path)).read_bytes() == body

        # the copy already there is hashed on the server: same bytes adopted, others not
        again = archive.store(tmp_path / f"copy{i}", media, name)
        assert again.path == stored.path and again.already_there
        rival = recorded(tmp_path / f"rival{i}", other, WHEN)
        apart = archive.store(tmp_path / f"rival{i}", rival, name)
        assert apart.path != stored.path and Path(str(apart.path)).read_bytes() == other
    assert len(_files(tmp_path / "nas")) == 2 * len(ODD_NAMES)


@pytest.mark.parametrize(("tool", "program", "tampering"), [
    ("python3 hashlib", "python3", TAMPERING_PYTHON),
    ("openssl dgst", "openssl", TAMPERING_TOOL),
    ("sha256sum", "sha256sum", TAMPERING_TOOL)])
def test_bytes_changed_on_the_server_before_the_hash_never_get_a_final_name(
        tmp_path: Path, server_with: ServerWith, tool: str, program: str, tampering: str):
    server = server_with(**{program: tampering.format(real=_installed(program))})
    (tmp_path / "nas").mkdir()
    archive = archive_on(server, tmp_path / "nas")
    archive.check()
    assert archive.hasher == tool  # the only one there: the fallbacks work

    media = recorded(tmp_path / "copy", b"the downloaded bytes", WHEN)
    with pytest.raises(ArchiveError, match="reads back different bytes than written"):
        archive.store(tmp_path / "copy", media, "IMG.jpg")
    assert _files(tmp_path / "nas") == []  # the temp file removed, no final name


def test_without_a_hasher_auto_reads_back_and_server_refuses(tmp_path: Path,
                                                             server_with: ServerWith):
    server = server_with()  # a shell, but neither python3, openssl nor sha256sum
    (tmp_path / "nas").mkdir()
    archive = archive_on(server, tmp_path / "nas")
    archive.check()
    assert archive.hasher is None
    assert archive.verification == "by reading them back over SFTP"
    media = recorded(tmp_path / "copy", b"bytes", WHEN)
    assert Path(str(archive.store(tmp_path / "copy", media, "IMG.jpg").path)).read_bytes() == (
        b"bytes")

    assert SftpArchiveSettings(host="nas", verify="sha256sum").verify == "server"  # old name
    for verify in ("server", "sha256sum"):
        with pytest.raises(ArchiveError, match="verify = server, but neither python3,"):
            archive_on(server, tmp_path / "nas", verify=verify).check()
    assert [p.name for p in _files(tmp_path / "nas")] == ["IMG.jpg"]  # the probe removed
