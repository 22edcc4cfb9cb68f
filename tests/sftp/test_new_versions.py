"""Issue 22, item 7, on the real sshd: a file overwritten under the same name on the SSH
server is a new version. It is archived (over SFTP) beside the old one, the old archived
copy is untouched, and the server's file is deleted only once the new version is proven."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile
from mediasync.pipeline.steps import STEPS, open_context
from tests.helpers import archived_files, sha256
from tests.sftp.conftest import SftpWorkspace

OLD = datetime(2022, 4, 2, 8, 0).timestamp()


def run_steps(ws: SftpWorkspace, run_id: str, first: int = 1,
              last: int = 8) -> tuple[list[str], list[MediaFile]]:
    ctx = open_context(ws.settings(), run_id)
    try:
        messages = [step.run(ctx).message for step in STEPS[first - 1:last]]
        return messages, sorted(ctx.ledger.files_where(), key=lambda m: m.id or 0)
    finally:
        ctx.ledger.close()


def overwrite(path: Path, seed: int, mtime: float) -> str:
    photo(path, PhotoSpec(seed=seed, size=(320, 240)))
    os.utime(path, (mtime, mtime))
    return sha256(path)


def test_a_file_overwritten_on_the_server_is_a_new_version(
        sftp_workspace: SftpWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = sftp_workspace
    with ws.config.open("a") as config:
        config.write("\n[guards]\nkeep_recent_days = 0\ndelete_interval_seconds = 0\n")
    served = ws.server / "cam" / "IMG_7.jpg"
    served.parent.mkdir()
    first_hash = overwrite(served, seed=7, mtime=OLD)
    run_steps(ws, "run-1")
    [first_copy] = archived_files(ws.remote_nas)[first_hash]
    first_stat = first_copy.stat()

    second_hash = overwrite(served, seed=8, mtime=OLD + 3600)
    monkeypatch.setenv("MEDIASYNC_SOURCE__DELETE", "true")
    messages, _ = run_steps(ws, "run-2", last=6)
    assert "1 changed at the source, taken as new versions" in messages[0]
    assert sha256(served) == second_hash, "deleted before the new version was proven"
    messages, (old, new) = run_steps(ws, "run-2", first=7)
    assert "deleted 1 at the source" in messages[0]
    assert not served.exists()

    archive = archived_files(ws.remote_nas)
    assert archive[first_hash] == [first_copy]
    assert first_copy.stat().st_mtime_ns == first_stat.st_mtime_ns
    [second_copy] = archive[second_hash]
    assert second_copy.name != first_copy.name
    assert old.superseded_at_source and old.source_deleted_at is None
    assert (new.source_id, new.content_hash) == ("cam/IMG_7.jpg", second_hash)
    assert new.source_deleted_at is not None
    ledger = ws.ledger()
    try:
        change = ledger.events(old.id)[-1]  # type: ignore[arg-type]
    finally:
        ledger.close()
    assert change.from_stage == change.to_stage == old.workflow_stage
    assert "superseded at the source by a newer version, run run-2" in (change.detail or "")


def test_an_unchanged_server_imports_nothing_again(sftp_workspace: SftpWorkspace) -> None:
    ws = sftp_workspace
    for i in range(3):
        overwrite(ws.server / f"IMG_{i}.jpg", seed=i, mtime=OLD)
    run_steps(ws, "run-1", last=1)
    messages, rows = run_steps(ws, "run-2", last=1)
    assert messages[0].startswith("0 downloaded") and "changed" not in messages[0]
    assert len(rows) == 3 and not any(m.superseded_at_source for m in rows)
