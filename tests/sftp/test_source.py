"""The sftp source through the real flow: each file downloaded once, ever (the ledger
rule of the system this replaces, which skipped 46 locally deleted files correctly)."""

from __future__ import annotations

import os

from mediasync.model import Stage
from mediasync.sources import build_source
from tests.helpers import sha256
from tests.sftp.conftest import SftpWorkspace, make_tree


def _incoming(ws: SftpWorkspace) -> dict[str, str]:
    folder = ws.root / "workflow" / "incoming"
    return {p.name: sha256(p) for p in folder.iterdir()} if folder.exists() else {}


def test_200_nested_files_downloaded_once_and_never_again(sftp_workspace: SftpWorkspace,
                                                           prefect_api: str):
    ws = sftp_workspace
    made = make_tree(ws.server, 200)
    (ws.server / "trip0" / "notes.txt").write_text("not media, filtered out by include")
    (ws.server / "trip1" / ".hidden.jpg").write_bytes(b"hidden")

    assert ws.run(start=1, end=1).is_completed()
    rows = ws.ledger().files_at([Stage.DOWNLOADED])
    assert len(rows) == 200
    by_id = {r.source_id: r for r in rows}
    for path in made:
        row = by_id[str(path.relative_to(ws.server))]
        assert row.content_hash == sha256(path) and row.size == path.stat().st_size
    first = _incoming(ws)
    assert sorted(first.values()) == sorted(sha256(p) for p in made)

    assert ws.run(start=1, end=1).is_completed()  # second run: nothing new
    assert _incoming(ws) == first
    assert len(ws.ledger().files_at([Stage.DOWNLOADED])) == 200


def test_deleted_local_copies_are_not_downloaded_again(sftp_workspace: SftpWorkspace,
                                                       prefect_api: str):
    ws = sftp_workspace
    make_tree(ws.server, 30)
    assert ws.run(start=1, end=1).is_completed()
    incoming = ws.root / "workflow" / "incoming"
    removed = sorted(incoming.iterdir())[:12]
    for path in removed:
        path.unlink()

    assert ws.run(start=1, end=1).is_completed()
    assert not any(path.exists() for path in removed), "a processed file came back"
    assert len(list(incoming.iterdir())) == 18
    assert len(ws.ledger().known_source_ids(build_source(ws.settings()).name)) == 30


def test_new_files_on_the_server_are_picked_up(sftp_workspace: SftpWorkspace, prefect_api: str):
    ws = sftp_workspace
    make_tree(ws.server, 20)
    assert ws.run(start=1, end=1).is_completed()
    later = make_tree(ws.server / "later", 5, prefix="NEW")
    os.utime(later[0], (1_700_000_000, 1_700_000_000))  # an old date does not hide it

    assert ws.run(start=1, end=1).is_completed()
    rows = ws.ledger().files_at([Stage.DOWNLOADED])
    assert len(rows) == 25
    new = {r.source_id: r.content_hash for r in rows if r.filename.startswith("NEW")}
    assert new == {str(p.relative_to(ws.server)): sha256(p) for p in later}
