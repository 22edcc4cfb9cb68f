"""Step 7 asks the phone again right before deleting: a file the phone lost or changed
since step 3 proved it stays at the source, goes back to be placed and proven again, and
says so in the ledger. Two real Syncthing instances, a folder source, real photos."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from mediasync.errors import SyncthingUnreachable
from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile, Stage
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.pixel.syncthing import SyncthingClient
from tests.syncthing.pixel_workspace import PixelWorkspace
from tests.syncthing.syncthing_pair import Pair, Shared, free_port

FILES = 5
DELETE_ON = "\n[guards]\ndelete_interval_seconds = 0\n"


@pytest.fixture
def ws(tmp_path: Path, running_pair: Pair, shared: Shared,
       monkeypatch: pytest.MonkeyPatch) -> PixelWorkspace:
    monkeypatch.setenv("MEDIASYNC_WORKFLOW__SYNC_TIMEOUT_SECONDS", "60")
    monkeypatch.setenv("MEDIASYNC_SOURCE__DELETE", "true")
    monkeypatch.setenv("MEDIASYNC_GUARDS__DELETE_INTERVAL_SECONDS", "0")
    ws = PixelWorkspace.share(tmp_path, running_pair, shared)
    for i in range(FILES):
        photo(ws.library / f"IMG_{i:04d}.JPG",
              PhotoSpec(captured=datetime(2020, 1, 1 + i, 12), seed=300 + i))
    return ws


def _steps(ws: PixelWorkspace, start: int, end: int, run_id: str,
           dry_run: bool = False) -> list[StepReport]:
    ctx = open_context(ws.settings(), run_id, dry_run=dry_run)
    try:
        return [step.run(ctx) for step in STEPS[start - 1:end]]
    finally:
        ctx.ledger.close()


def _rows(ws: PixelWorkspace) -> dict[str, MediaFile]:
    ledger = ws.ledger()
    try:
        return {m.filename: m for m in ledger.files_where(source=f"folder:{ws.library}")}
    finally:
        ledger.close()


def _phone_drops(ws: PixelWorkspace, pair: Pair, rows: dict[str, MediaFile]) -> tuple[str, str]:
    """The phone deletes one file and changes another, scans, and the computer hears of it."""
    lost, changed = sorted(rows)[0], sorted(rows)[1]
    names = {n: Path(rows[n].pixel_path or "").name for n in (lost, changed)}
    (ws.phone_dir / names[lost]).unlink()
    with open(ws.phone_dir / names[changed], "ab") as handle:
        handle.write(b"edited on the phone")
    pair.phone.request("POST", "/rest/db/scan", params={"folder": ws.folder_id})
    with SyncthingClient(pair.computer.url, ws.settings().syncthing.api_key) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            infos = [client.file_info(ws.folder_id, name) for name in names.values()]
            if all(info is not None and pair.phone.device_id not in dict(info.availability)
                   for info in infos):
                return lost, changed
            time.sleep(0.2)
    raise AssertionError("the computer never heard of the phone's changes")


def test_files_the_phone_lost_or_changed_are_kept_at_the_source(
        ws: PixelWorkspace, running_pair: Pair) -> None:
    _steps(ws, 1, 6, "run-1")
    rows = _rows(ws)
    assert len(rows) == FILES
    assert all(m.workflow_stage == Stage.COMPRESSED and m.pixel_version for m in rows.values())
    lost, changed = _phone_drops(ws, running_pair, rows)

    report = _steps(ws, 7, 7, "run-2")[0]

    assert f"deleted {FILES - 2} at the source" in report.message
    assert {p.name for p in ws.library.iterdir()} == {lost, changed}
    after = _rows(ws)
    for name in (lost, changed):
        media = after[name]
        assert media.workflow_stage == Stage.DOWNLOADED and media.source_deleted_at is None
        assert not media.pixel_synced and media.pixel_version is None
        assert media.error is not None and "Pixel copy lost" in media.error
        ledger = ws.ledger()
        try:
            event = ledger.events(media.id)[-1]  # type: ignore[arg-type]
        finally:
            ledger.close()
        assert event.to_stage == Stage.DOWNLOADED and "placed on the Pixel again" in (
            event.detail or "")
    assert all(m.source_deleted_at is not None for n, m in after.items()
               if n not in (lost, changed))

    # once the phone takes the computer's version back, the next run proves them anew
    running_pair.phone.request("POST", "/rest/db/revert", params={"folder": ws.folder_id})
    reports = _steps(ws, 1, 8, "run-3")

    assert "deleted 2 at the source" in reports[6].message, reports[6].message
    assert not list(ws.library.iterdir())
    assert all(m.source_deleted_at is not None for m in _rows(ws).values())


def test_syncthing_out_of_reach_at_delete_time_deletes_nothing(
        ws: PixelWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    _steps(ws, 1, 6, "run-1")
    monkeypatch.setenv("MEDIASYNC_SYNCTHING__API_URL", f"http://127.0.0.1:{free_port()}")

    with pytest.raises(SyncthingUnreachable, match="unreachable at"):
        _steps(ws, 7, 7, "run-2")

    assert len(list(ws.library.iterdir())) == FILES
    assert all(m.source_deleted_at is None and m.workflow_stage == Stage.ICLOUD_DELETE_READY
               for m in _rows(ws).values())  # the next run with Syncthing back deletes them
