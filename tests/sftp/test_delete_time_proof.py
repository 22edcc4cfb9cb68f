"""Issue 22 over SFTP: the real sshd serves both the source and the archive. Step 7
proves each archived copy again on the server right before deleting (by the server's
hasher, or by reading the bytes back), and the archive's identity marker is checked."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from mediasync.errors import ArchiveError
from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile, Stage
from mediasync.nas.archive import MARKER_NAME
from mediasync.nas.identity import recorded
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.steps import STEPS, open_context
from tests.helpers import sha256
from tests.sftp.conftest import SftpWorkspace

FILES = 5


@pytest.fixture
def ws(sftp_workspace: SftpWorkspace, monkeypatch: pytest.MonkeyPatch,
       request: pytest.FixtureRequest) -> SftpWorkspace:
    monkeypatch.setenv("MEDIASYNC_SOURCE__DELETE", "true")
    verify = getattr(request, "param", "auto")
    with sftp_workspace.config.open("a") as config:  # [sftp.archive] is the last section
        config.write(f'verify = "{verify}"\n[guards]\ndelete_interval_seconds = 0\n')
    for i in range(FILES):
        photo(sftp_workspace.server / f"trip/IMG_{i}.jpg",
              PhotoSpec(captured=datetime(2023, 3, 1 + i, 12, 0), seed=i, size=(320, 240)))
    return sftp_workspace


def _steps(ws: SftpWorkspace, start: int, end: int, run_id: str) -> list[StepReport]:
    ctx = open_context(ws.settings(), run_id)
    try:
        return [step.run(ctx) for step in STEPS[start - 1:end]]
    finally:
        ctx.ledger.close()


def _rows(ws: SftpWorkspace) -> dict[str, MediaFile]:
    ledger = ws.ledger()
    try:
        return {m.filename: m for m in ledger.files_at(list(Stage))}
    finally:
        ledger.close()


def _at_source(ws: SftpWorkspace) -> set[str]:
    return {p.name for p in ws.server.rglob("*.jpg")}


@pytest.mark.parametrize("ws", ["auto", "read"], indirect=True)
def test_copies_broken_on_the_server_are_kept_then_archived_again(ws: SftpWorkspace) -> None:
    _steps(ws, 1, 6, "run-1")
    rows = _rows(ws)
    removed, overwritten = rows["IMG_1.jpg"], rows["IMG_3.jpg"]
    Path(removed.nas_path or "").unlink()  # the server's files, as sshd serves them
    wrong_copy = Path(overwritten.nas_path or "")
    with wrong_copy.open("r+b") as handle:
        handle.seek(64)
        handle.write(b"\xff" * 7)
    wrong_bytes = sha256(wrong_copy)

    reports = _steps(ws, 7, 8, "run-2")

    assert f"deleted {FILES - 2} at the source" in reports[0].message
    assert _at_source(ws) == {"IMG_1.jpg", "IMG_3.jpg"}
    after = _rows(ws)
    assert "is missing" in (after["IMG_1.jpg"].error or "")
    assert "no longer reads back" in (after["IMG_3.jpg"].error or "")
    assert all(after[n].workflow_stage == Stage.DOWNLOADED for n in ("IMG_1.jpg", "IMG_3.jpg"))

    reports = _steps(ws, 1, 8, "run-3")

    assert "deleted 2 at the source" in reports[6].message
    assert _at_source(ws) == set()
    final = _rows(ws)
    assert final["IMG_3.jpg"].nas_path != str(wrong_copy)
    assert sha256(Path(final["IMG_3.jpg"].nas_path or "")) == final["IMG_3.jpg"].content_hash
    assert sha256(wrong_copy) == wrong_bytes


def test_archive_renamed_away_on_the_server_halts_before_any_delete(ws: SftpWorkspace) -> None:
    _steps(ws, 1, 6, "run-1")
    known = _known_id(ws)
    ws.remote_nas.rename(ws.root / "remote_nas_elsewhere")

    with pytest.raises(ArchiveError, match=rf"NAS not mounted or not the archive \(expected"
                                           rf" id {known}\).*does not exist"):
        _steps(ws, 7, 8, "run-2")
    assert len(_at_source(ws)) == FILES
    assert not ws.remote_nas.exists()


def test_an_empty_folder_in_the_archive_s_place_halts_and_stays_empty(
        ws: SftpWorkspace) -> None:
    _steps(ws, 1, 6, "run-1")
    known = _known_id(ws)
    ws.remote_nas.rename(ws.root / "remote_nas_unmounted")
    ws.remote_nas.mkdir()
    photo(ws.server / "trip/IMG_new.jpg", PhotoSpec(captured=datetime(2023, 4, 1), seed=99))

    with pytest.raises(ArchiveError, match=rf"expected id {known}\).*has no {MARKER_NAME}"):
        _steps(ws, 1, 8, "run-2")
    assert list(ws.remote_nas.iterdir()) == []
    assert len(_at_source(ws)) == FILES + 1


def _known_id(ws: SftpWorkspace) -> str:
    ledger = ws.ledger()
    try:
        known = recorded(ledger)
    finally:
        ledger.close()
    assert known is not None
    assert known.id in (ws.remote_nas / MARKER_NAME).read_text()
    return known.id
