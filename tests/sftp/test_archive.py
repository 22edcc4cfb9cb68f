"""The archive over SFTP through the real flow: each file once, byte-identical, never
overwritten; a killed run leaves nothing half-written under a final name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from mediasync.files import PARTIAL_SUFFIX
from mediasync.model import Stage
from tests.helpers import archived_files, sha256
from tests.sftp.conftest import SftpWorkspace, archive_on, make_tree, recorded
from tests.sftp.sshd import Sshd


def _final_files(nas: Path) -> list[Path]:
    return [p for p in nas.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_archive_holds_each_file_once_byte_identical(sftp_workspace: SftpWorkspace,
                                                     prefect_api: str):
    ws = sftp_workspace
    made = make_tree(ws.server, 40, size=200_000)
    (ws.server / "a").mkdir()
    (ws.server / "b").mkdir()
    (ws.server / "a" / "IMG_SAME.jpg").write_bytes(b"one" * 1000)  # same name,
    (ws.server / "b" / "IMG_SAME.jpg").write_bytes(b"two" * 1000)  # different bytes
    (ws.server / "b" / "copy.jpg").write_bytes(made[0].read_bytes())  # same bytes
    sources = made + [ws.server / "a" / "IMG_SAME.jpg", ws.server / "b" / "IMG_SAME.jpg"]

    assert ws.run(start=1, end=4).is_completed()
    assert ws.run(start=4, end=4).is_completed()  # a rerun stores nothing twice

    archived = archived_files(ws.remote_nas)
    for source in sources:
        assert len(archived[sha256(source)]) == 1, f"{source.name} not archived exactly once"
    assert len(_final_files(ws.remote_nas)) == len(sources)
    assert not list(ws.nas.rglob("*")), "the local NAS folder was written"
    rows = ws.ledger().files_at([Stage.NAS_ARCHIVED])
    assert len(rows) == len(sources) + 1
    for row in rows:
        assert row.nas_hash == row.content_hash
        assert sha256(Path(row.nas_path)) == row.content_hash  # type: ignore[arg-type]


def _started(ws: SftpWorkspace, prefect_api: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    return subprocess.Popen(
        [sys.executable, "-m", "mediasync", "run", "--config", str(ws.config),
         "--start", "4", "--end", "4"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_killed_transfer_leaves_no_partial_file_under_a_final_name(
        sftp_workspace: SftpWorkspace, prefect_api: str):
    ws = sftp_workspace
    made = make_tree(ws.server, 40, size=2_000_000)
    assert ws.run(start=1, end=1).is_completed()
    process = _started(ws, prefect_api)
    deadline = time.monotonic() + 120
    while len(_final_files(ws.remote_nas)) < 3:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "step 4 never started archiving"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()

    wanted = {sha256(p) for p in made}
    at_kill = _final_files(ws.remote_nas)
    assert len(at_kill) < len(made), "the kill came too late to test anything"
    assert all(sha256(p) in wanted for p in at_kill), "a final name holds partial bytes"

    assert ws.run(start=4, end=4).is_completed()
    archived = archived_files(ws.remote_nas)
    assert all(len(archived[h]) == 1 for h in wanted)
    assert len(_final_files(ws.remote_nas)) == len(made)
    assert list(ws.remote_nas.rglob(f"*{PARTIAL_SUFFIX}")) == []
    assert ws.ledger().counts_by_stage() == {Stage.NAS_ARCHIVED: len(made)}


def test_read_back_verification_and_name_collisions(tmp_path: Path, sshd: Sshd):
    """verify = "read": the bytes come back over SFTP; different bytes under one name
    get a distinct name, the same bytes are adopted, nothing is overwritten."""
    (tmp_path / "nas").mkdir()
    archive = archive_on(sshd, tmp_path / "nas", verify="read")
    archive.check()
    when = datetime(2024, 5, 6, tzinfo=UTC)
    first = recorded(tmp_path / "a.jpg", b"first bytes", when)
    second = recorded(tmp_path / "b.jpg", b"other bytes", when)

    one = archive.store(tmp_path / "a.jpg", first, "IMG.jpg")
    two = archive.store(tmp_path / "b.jpg", second, "IMG.jpg")
    again = archive.store(tmp_path / "a.jpg", first, "IMG.jpg")

    assert str(one.path) == str(tmp_path / "nas/2024/05/06/IMG.jpg") and not one.already_there
    assert two.path.name == f"IMG_{second.content_hash[:8]}.jpg"  # type: ignore[index]
    assert again.path == one.path and again.already_there
    assert Path(str(one.path)).read_bytes() == b"first bytes"
    assert Path(str(two.path)).read_bytes() == b"other bytes"
    assert sorted(p.name for p in (tmp_path / "nas/2024/05/06").iterdir()) == sorted(
        ["IMG.jpg", two.path.name])
