"""Step 7's batch on the real sshd: a delete counts only when the path is gone
afterwards; a refused file stays on the server with the server's answer in the ledger,
and the rest of the batch is deleted (issue 22)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasync.ledger.sqlite import SqliteLedger
from mediasync.model import MediaFile
from mediasync.pipeline.context import RunContext
from mediasync.pipeline.delete_at_source import _delete_batch
from mediasync.settings import Settings, SftpSourceSettings
from mediasync.sources.sftp import SftpSource
from tests.sftp.sshd import Sshd


@pytest.fixture
def server(tmp_path: Path) -> Path:
    (tmp_path / "server" / "trip").mkdir(parents=True)
    return tmp_path / "server"


@pytest.fixture
def ctx(server: Path, sshd: Sshd) -> Iterator[RunContext]:
    config = SftpSourceSettings(host="127.0.0.1", port=sshd.port, key_file=sshd.user_key,
                                known_hosts=sshd.known_hosts, root=str(server))
    ledger = SqliteLedger(None)
    yield RunContext(settings=Settings(), ledger=ledger,
                     source=SftpSource(config, Settings()), run_id="run-1")
    ledger.close()


def _recorded(ctx: RunContext, server: Path, names: list[str]) -> list[MediaFile]:
    """Files on the server, archived and recorded as step 6 leaves them."""
    rows = []
    for name in names:
        body = name.encode() * 100
        (server / name).write_bytes(body)
        digest = hashlib.sha256(body).hexdigest()
        rows.append(MediaFile(source=ctx.source.name, source_id=name, filename=name,
                              size=len(body), content_hash=digest, nas_hash=digest,
                              nas_path=f"/nas/{name}", nas_archived=True))
    return ctx.ledger.add_files(rows, run_id="run-1")


@pytest.fixture
def immutable(server: Path) -> Iterator[Path]:
    """trip/C.jpg, which the server may not remove (ext4's immutable flag)."""
    path = server / "trip" / "C.jpg"
    path.write_bytes(b"placeholder")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("needs chattr +i (root on ext4 or xfs) to make a file that refuses removal")
    subprocess.run(["chattr", "-i", str(path)], check=True)
    yield path
    subprocess.run(["chattr", "-i", str(path)], check=True)


def test_refusals_stay_on_the_server_with_the_answer_and_the_rest_is_deleted(
        ctx: RunContext, server: Path, immutable: Path) -> None:
    files = _recorded(ctx, server, ["trip/A.jpg", "trip/B.jpg", "trip/C.jpg", "trip/D.jpg"])
    (server / "trip/B.jpg").write_bytes(b"edited on the server")
    subprocess.run(["chattr", "+i", str(immutable)], check=True)

    outcomes = _delete_batch(ctx, files)

    assert [o.deleted for o in outcomes] == [True, False, False, True]
    assert sorted(p.name for p in (server / "trip").iterdir()) == ["B.jpg", "C.jpg"]
    answers = {"trip/B.jpg": "changed at the source since download",
               "trip/C.jpg": "cannot delete: Permission denied"}
    for media in files:
        [proof] = ctx.ledger.deletions(media.id)  # type: ignore[arg-type]
        row = ctx.ledger.get(media.id)  # type: ignore[arg-type]
        assert row is not None
        if media.source_id in answers:
            assert (proof.state, proof.answer) == ("kept", answers[media.source_id])
            assert row.error == f"not deleted at the source: {answers[media.source_id]}"
            assert row.source_deleted_at is None
        else:
            assert (proof.state, proof.answer) == ("confirmed", None)
            assert row.source_deleted_at is not None
    assert ctx.ledger.open_intents(ctx.source.name) == []


def test_still_present_names_what_the_server_holds(ctx: RunContext, server: Path) -> None:
    files = _recorded(ctx, server, ["trip/A.jpg", "trip/B.jpg", "odd name é.jpg"])
    (server / "trip/A.jpg").unlink()
    assert ctx.source.still_present(files) == {"trip/B.jpg", "odd name é.jpg"}  # type: ignore[attr-defined]
