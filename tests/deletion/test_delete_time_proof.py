"""Issue 22: step 7 proves every archived copy again right before deleting, and the
archive must be the archive. Real files, a folder source, a mounted-NAS folder."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from mediasync.errors import ArchiveError
from mediasync.files import PARTIAL_SUFFIX
from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile, Stage, can_move
from mediasync.nas.archive import MARKER_NAME
from mediasync.nas.identity import recorded
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.steps import STEPS, open_context
from tests.helpers import Workspace, sha256

FILES = 6
DELETE_ON = "\n[guards]\ndelete_interval_seconds = 0\n"


def _workspace(tmp_path: Path, guards: str = "") -> Workspace:
    ws = Workspace.create(tmp_path, DELETE_ON + guards)
    ws.config.write_text(ws.config.read_text().replace('path = "library"',
                                                       'path = "library"\ndelete = true'))
    for i in range(FILES):
        photo(ws.library / f"IMG_{i:04d}.JPG",
              PhotoSpec(captured=datetime(2020, 1, 1 + i, 12, 0, 0), seed=100 + i))
    return ws


def _steps(ws: Workspace, start: int, end: int, run_id: str) -> list[StepReport]:
    ctx = open_context(ws.settings(), run_id)
    try:
        return [step.run(ctx) for step in STEPS[start - 1:end]]
    finally:
        ctx.ledger.close()


def _rows(ws: Workspace) -> dict[str, MediaFile]:
    ledger = ws.ledger()
    try:
        return {m.source_id: m for m in ledger.files_where(source=f"folder:{ws.library}")}
    finally:
        ledger.close()


def _at_source(ws: Workspace) -> set[str]:
    return {p.name for p in ws.library.iterdir()}


def _break_two_copies(ws: Workspace, rows: dict[str, MediaFile]) -> tuple[str, str]:
    """One archived copy removed, seven bytes of another overwritten."""
    removed, overwritten = sorted(rows)[0], sorted(rows)[-1]
    Path(rows[removed].nas_path or "").unlink()
    with open(rows[overwritten].nas_path or "", "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00" * 7)
    return removed, overwritten


def test_copies_broken_after_step_six_are_kept_then_archived_again(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _steps(ws, 1, 6, "run-1")
    rows = _rows(ws)
    assert len(rows) == FILES and all(m.workflow_stage == Stage.COMPRESSED for m in rows.values())
    removed, overwritten = _break_two_copies(ws, rows)
    wrong_copy = Path(rows[overwritten].nas_path or "")
    wrong_bytes = sha256(wrong_copy)

    reports = _steps(ws, 7, 8, "run-2")

    assert f"deleted {FILES - 2} at the source" in reports[0].message
    assert _at_source(ws) == {removed, overwritten}
    after = _rows(ws)
    for name, why in ((removed, "is missing"), (overwritten, "no longer reads back")):
        media = after[name]
        assert media.workflow_stage == Stage.DOWNLOADED  # step 4 archives it again
        assert media.source_deleted_at is None and not media.nas_archived
        assert media.error is not None
        assert "archived copy lost" in media.error and why in media.error
        event = _events(ws, media)[-1]
        assert (event.from_stage, event.to_stage) == (Stage.ICLOUD_DELETE_READY, Stage.DOWNLOADED)
        assert event.detail is not None and why in event.detail
    assert sha256(wrong_copy) == wrong_bytes  # the wrong copy is evidence: never touched

    reports = _steps(ws, 1, 8, "run-3")

    assert "deleted 2 at the source" in reports[6].message
    assert _at_source(ws) == set()
    final = _rows(ws)
    assert all(m.source_deleted_at is not None for m in final.values())
    for name in (removed, overwritten):
        assert sha256(Path(final[name].nas_path or "")) == final[name].content_hash
    assert final[overwritten].nas_path != str(wrong_copy)  # a distinct name beside it
    assert sha256(wrong_copy) == wrong_bytes


def test_a_broken_copy_without_working_copy_is_downloaded_again(tmp_path: Path) -> None:
    # the cap keeps two files completed but not deleted; cleanup frees their working copies
    ws = _workspace(tmp_path, f"max_deletes_per_run = {FILES - 2}\n")
    _steps(ws, 1, 8, "run-1")
    waiting = {k: m for k, m in _rows(ws).items() if m.source_deleted_at is None}
    assert len(waiting) == 2 and all(m.workflow_stage == Stage.COMPLETED and m.local_path is None
                                     for m in waiting.values())
    removed, overwritten = _break_two_copies(ws, waiting)

    reports = _steps(ws, 7, 8, "run-2")

    assert "deleted 0 at the source" in reports[0].message
    assert _at_source(ws) == {removed, overwritten}
    for media in (_rows(ws)[removed], _rows(ws)[overwritten]):
        assert media.workflow_stage == Stage.FAILED and media.failed_stage is None
        assert media.error is not None and "archived copy lost" in media.error
        assert "downloaded again" in (_events(ws, media)[-1].detail or "")

    reports = _steps(ws, 1, 8, "run-3")

    assert "deleted 2 at the source" in reports[6].message
    assert _at_source(ws) == set()


def test_first_run_marks_an_empty_archive_and_records_its_id(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _steps(ws, 1, 4, "run-1")
    ledger = ws.ledger()
    try:
        known = recorded(ledger)
    finally:
        ledger.close()
    assert known is not None and known.root == str(ws.nas)
    assert known.id in (ws.nas / MARKER_NAME).read_text()


def test_archive_renamed_away_halts_step_seven_before_any_delete(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _steps(ws, 1, 6, "run-1")
    known = _known_id(ws)
    ws.nas.rename(tmp_path / "nas_elsewhere")

    with pytest.raises(ArchiveError, match=f"NAS not mounted or not the archive"
                                           rf" \(expected id {known}\)"):
        _steps(ws, 7, 8, "run-2")
    assert len(_at_source(ws)) == FILES
    assert not ws.nas.exists()
    assert all(m.source_deleted_at is None for m in _rows(ws).values())


def test_archive_renamed_away_halts_step_four_with_nothing_to_archive(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _steps(ws, 1, 8, "run-1")
    known = _known_id(ws)
    ws.nas.rename(tmp_path / "nas_elsewhere")
    with pytest.raises(ArchiveError, match=rf"expected id {known}"):
        _steps(ws, 4, 4, "run-2")
    assert not ws.nas.exists()


def test_empty_mount_point_halts_before_writing_or_deleting(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _steps(ws, 1, 6, "run-1")
    known = _known_id(ws)
    shutil.move(ws.nas, tmp_path / "nas_unmounted")
    ws.nas.mkdir()  # the mount point left behind
    photo(ws.library / "IMG_0100.JPG", PhotoSpec(captured=datetime(2020, 2, 1), seed=7))

    with pytest.raises(ArchiveError, match=rf"NAS not mounted or not the archive \(expected"
                                           rf" id {known}\).*has no {MARKER_NAME}"):
        _steps(ws, 1, 8, "run-2")
    assert list(ws.nas.iterdir()) == []
    assert len(_at_source(ws)) == FILES + 1
    with pytest.raises(ArchiveError, match=rf"expected id {known}"):
        _steps(ws, 7, 8, "run-3")
    assert list(ws.nas.iterdir()) == []
    assert len(_at_source(ws)) == FILES + 1


def test_a_marker_being_written_by_another_worker_is_not_a_file_of_the_owners(
        tmp_path: Path) -> None:
    """Two workers starting on a fresh archive: while the first writes the marker, its
    temp file sits at the root; the second must not halt with "holds files"."""
    ws = _workspace(tmp_path)
    (ws.nas / f".{MARKER_NAME}.4242{PARTIAL_SUFFIX}{PARTIAL_SUFFIX}").write_bytes(b"half")
    _steps(ws, 1, 4, "run-1")
    assert (ws.nas / MARKER_NAME).is_file()


def test_files_but_no_identity_halt_and_name_nas_init(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    (ws.nas / "2019").mkdir()
    (ws.nas / "2019" / "old.jpg").write_bytes(b"someone's archive")
    with pytest.raises(ArchiveError, match="mediasync nas init"):
        _steps(ws, 1, 4, "run-1")
    assert not (ws.nas / MARKER_NAME).exists()


def test_dry_run_writes_no_marker_and_no_row(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _steps(ws, 1, 1, "run-1")
    ctx = open_context(ws.settings(), "dry", dry_run=True)
    try:
        report = STEPS[3].run(ctx)
    finally:
        ctx.ledger.close()
    assert "would mark" in report.message
    assert list(ws.nas.iterdir()) == []
    assert _known_id(ws, missing_ok=True) is None


def _known_id(ws: Workspace, missing_ok: bool = False) -> str | None:
    ledger = ws.ledger()
    try:
        known = recorded(ledger)
    finally:
        ledger.close()
    assert known is not None or missing_ok
    return known.id if known else None


def _events(ws: Workspace, media: MediaFile) -> list:  # type: ignore[type-arg]
    ledger = ws.ledger()
    try:
        return ledger.events(media.id)  # type: ignore[arg-type]
    finally:
        ledger.close()


def test_only_a_file_awaiting_or_past_deletion_goes_back_to_be_archived() -> None:
    for stage in (Stage.ICLOUD_DELETE_READY, Stage.COMPLETED):
        assert can_move(stage, Stage.DOWNLOADED) and can_move(stage, Stage.PIXEL_VERIFIED)
        assert can_move(stage, Stage.FAILED)
        assert not can_move(stage, Stage.NAS_ARCHIVED) and not can_move(stage, Stage.COMPRESSED)
    assert not can_move(Stage.COMPLETED, Stage.SKIPPED)
    assert not can_move(Stage.COMPRESSED, Stage.DOWNLOADED)


def test_the_flow_fails_with_the_halt_message_when_the_archive_is_gone(
        tmp_path: Path, prefect_api: str) -> None:
    ws = _workspace(tmp_path)
    _steps(ws, 1, 8, "run-1")
    known = _known_id(ws)
    ws.nas.rename(tmp_path / "nas_elsewhere")
    photo(ws.library / "IMG_0100.JPG", PhotoSpec(captured=datetime(2020, 2, 1), seed=7))

    state = ws.run(start=1, end=8)

    assert state.is_failed()
    assert f"NAS not mounted or not the archive (expected id {known})" in state.message
    assert _at_source(ws) == {"IMG_0100.JPG"}


def test_a_dry_run_of_step_seven_reports_the_refusal_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _workspace(tmp_path)
    _steps(ws, 1, 6, "run-1")
    monkeypatch.setenv("MEDIASYNC_SOURCE__DELETE", "false")
    _steps(ws, 7, 7, "run-2")  # listed as safe to delete, not deleted
    monkeypatch.delenv("MEDIASYNC_SOURCE__DELETE")
    removed, _ = _break_two_copies(ws, _rows(ws))
    before = _rows(ws)
    ctx = open_context(ws.settings(), "dry", dry_run=True)
    try:
        report = STEPS[6].run(ctx)
    finally:
        ctx.ledger.close()
    assert f"would delete {FILES - 2} files at the source" in report.message
    refused = [row for row in report.planned if row["source_id"] == removed]
    assert len(refused) == 1 and "archived copy lost" in refused[0]["action"]
    assert _rows(ws) == before
    assert len(_at_source(ws)) == FILES
