"""All eight steps with an SSH server as the source and a NAS over SFTP as the archive,
source deletion on: only files archived and re-hashed are deleted at the source, through
step 7's deletion gate; a file changed on the server since its download is kept."""

from __future__ import annotations

from datetime import datetime

import pytest

from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import Stage
from tests.helpers import archived_files, sha256
from tests.sftp.conftest import SftpWorkspace

FILES = 6


def test_full_run_deletes_at_the_source_only_what_the_archive_holds(
        sftp_workspace: SftpWorkspace, prefect_api: str, monkeypatch: pytest.MonkeyPatch):
    ws = sftp_workspace
    monkeypatch.setenv("MEDIASYNC_SOURCE__DELETE", "true")
    with ws.config.open("a") as config:
        config.write("\n[guards]\nkeep_recent_days = 0\ndelete_interval_seconds = 0\n")
    photos = [ws.server / f"trip/IMG_{i}.jpg" for i in range(FILES)]
    for i, path in enumerate(photos):
        photo(path, PhotoSpec(captured=datetime(2023, 3, 1 + i, 12, 0), seed=i, size=(320, 240)))
    hashes = {sha256(p) for p in photos}

    assert ws.run(start=1, end=4).is_completed()
    photos[0].write_bytes(photos[0].read_bytes() + b"edited on the server")
    state = ws.run(start=5, end=8)
    assert state.is_completed(), state.message

    assert [p.name for p in sorted(ws.server.rglob("*.jpg"))] == ["IMG_0.jpg"]
    archived = archived_files(ws.remote_nas)
    assert all(len(archived[h]) == 1 for h in hashes), "a deleted file is not in the archive"
    rows = {r.filename: r for r in ws.ledger().files_at(list(Stage))}
    assert rows["IMG_0.jpg"].source_deleted_at is None
    assert "changed at the source" in (rows["IMG_0.jpg"].error or "")
    assert all(rows[p.name].source_deleted_at is not None for p in photos[1:])
