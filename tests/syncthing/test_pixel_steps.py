"""Steps 2 and 3 on a real ledger, a real folder source and two real Syncthing instances."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from media_files import sample_bytes
from pixel_workspace import PixelWorkspace
from syncthing_pair import Pair, Shared, free_port

from mediasync.errors import (
    DeviceNotConnected,
    MediasyncError,
    SyncthingFolderError,
    SyncthingKeyRejected,
    SyncthingUnreachable,
)
from mediasync.model import Stage
from mediasync.pipeline import pixel_sync, pixel_verify
from mediasync.pipeline.context import StepReport


def run_step(ws: PixelWorkspace, step: Callable[..., StepReport],
             dry_run: bool = False) -> StepReport:
    ctx = ws.context(dry_run=dry_run)
    try:
        return step(ctx)
    finally:
        ctx.ledger.close()


def library(count: int, size: int = 4096) -> dict[str, bytes]:
    return {f"IMG_{n:04d}.JPG": sample_bytes(n, size) for n in range(count)}


@pytest.fixture
def ws(tmp_path: Path, running_pair: Pair, shared: Shared) -> PixelWorkspace:
    return PixelWorkspace.create(tmp_path / "ws", running_pair, shared)


def test_twelve_files_batch_five_three_runs(ws: PixelWorkspace) -> None:
    files = library(12)
    ws.download(files)
    for _ in range(3):
        placed = run_step(ws, pixel_sync.run)
        unverified = {Path(m.pixel_path).name for m in ws.at(Stage.PIXEL_SYNC_READY)}  # type: ignore[arg-type]
        assert len(unverified) <= 5 and unverified <= ws.pixel_files()
        assert placed.done == len(unverified)
        run_step(ws, pixel_verify.run)
    verified = ws.at(Stage.PIXEL_VERIFIED)
    assert len(verified) == 12 and not ws.at(Stage.DOWNLOADED)
    for media in verified:
        assert media.pixel_synced and media.pixel_version
        on_phone = ws.shared.phone_dir / Path(media.pixel_path).name  # type: ignore[arg-type]
        assert on_phone.read_bytes() == files[media.filename]


def test_phone_stopped_halts_step_three_then_next_run_verifies(
        ws: PixelWorkspace, running_pair: Pair) -> None:
    ws.download(library(2))
    run_step(ws, pixel_sync.run)
    running_pair.phone.stop()
    ws.config.write_text(ws.config.read_text().replace("sync_timeout_seconds = 30",
                                                       "sync_timeout_seconds = 2"))
    with pytest.raises(DeviceNotConnected) as caught:
        run_step(ws, pixel_verify.run)
    assert "not connected since" in str(caught.value)
    assert all(name in str(caught.value) for name in library(2))
    assert len(ws.at(Stage.PIXEL_SYNC_READY)) == 2  # left for the next run

    running_pair.phone.start()
    ws.config.write_text(ws.config.read_text().replace("sync_timeout_seconds = 2",
                                                       "sync_timeout_seconds = 30"))
    assert run_step(ws, pixel_verify.run).done == 2
    assert len(ws.at(Stage.PIXEL_VERIFIED)) == 2


STRANGER = "UOXNGT2-B3CMQYS-W4NYWYM-3YGHXGJ-NFMZTXW-3R34VKC-BWHUY34-2UPPKAN"
BROKEN: dict[str, tuple[Callable[[Pair], dict[str, str]], type[MediasyncError], str]] = {
    "wrong key": (lambda pair: {"key": "not-the-key"}, SyncthingKeyRejected,
                  "rejected the API key"),
    "unknown folder": (lambda pair: {"folder_id": "no-such-folder"}, SyncthingFolderError,
                       "has no folder 'no-such-folder'"),
    "not running": (lambda pair: {"url": f"http://127.0.0.1:{free_port()}"},
                    SyncthingUnreachable, "unreachable at"),
    "not shared": (lambda pair: {"device_id": STRANGER}, SyncthingFolderError,
                   "is not shared with device UOXNGT2"),
    "own device": (lambda pair: {"device_id": pair.computer.device_id}, SyncthingFolderError,
                   "is this computer's own device"),
}


@pytest.fixture(params=list(BROKEN))
def broken(request: pytest.FixtureRequest, tmp_path: Path, running_pair: Pair,
           shared: Shared) -> Iterator[tuple[PixelWorkspace, type[MediasyncError], str]]:
    overrides, error, text = BROKEN[request.param]
    yield (PixelWorkspace.create(tmp_path / "ws", running_pair, shared,
                                 **overrides(running_pair)), error, text)


@pytest.mark.parametrize("step", [pixel_sync.run, pixel_verify.run], ids=["step2", "step3"])
def test_broken_setup_is_one_line_and_moves_nothing(
        broken: tuple[PixelWorkspace, type[MediasyncError], str],
        step: Callable[..., StepReport], running_pair: Pair) -> None:
    ws, error, text = broken
    ws.download(library(2))
    with pytest.raises(error) as caught:
        run_step(ws, step)
    message = str(caught.value)
    assert text in message and "\n" not in message
    assert running_pair.computer.api_key not in message
    assert len(ws.at(Stage.DOWNLOADED)) == 2 and ws.pixel_files() == set()


def test_dry_run_places_nothing_and_scans_nothing(ws: PixelWorkspace,
                                                   running_pair: Pair) -> None:
    ws.download(library(3))
    computer = running_pair.computer
    since = computer.get("/rest/events", events="StateChanged,LocalIndexUpdated", since=0,
                         limit=1, timeout=0)
    start = since[-1]["id"] if since else 0
    plan2 = run_step(ws, pixel_sync.run, dry_run=True)
    plan3 = run_step(ws, pixel_verify.run, dry_run=True)
    assert plan2.done == 3 and len(plan2.planned) == 3 and plan3.done == 0
    assert ws.pixel_files() == set() and len(ws.at(Stage.DOWNLOADED)) == 3
    events = computer.get("/rest/events", events="StateChanged,LocalIndexUpdated",
                          since=start, timeout=1)
    assert not [e for e in events if e["data"].get("folder") == ws.shared.folder_id]


def test_dry_run_of_step_three_reports_what_the_phone_holds(ws: PixelWorkspace) -> None:
    ws.download(library(2))
    run_step(ws, pixel_sync.run)
    run_step(ws, pixel_verify.run)
    ws.download({"IMG_0099.JPG": sample_bytes(99)})
    run_step(ws, pixel_sync.run)
    before = {m.filename for m in ws.at(Stage.PIXEL_SYNC_READY)}
    plan = run_step(ws, pixel_verify.run, dry_run=True)
    assert len(plan.planned) == 1 and before == {"IMG_0099.JPG"}
    assert {m.filename for m in ws.at(Stage.PIXEL_SYNC_READY)} == before


def test_disabled_pixel_sync_is_skipped(tmp_path: Path, running_pair: Pair,
                                        shared: Shared) -> None:
    ws = PixelWorkspace.create(tmp_path / "ws", running_pair, shared)
    ws.config.write_text(ws.config.read_text().replace("enabled = true", "enabled = false"))
    ws.download(library(1))
    assert run_step(ws, pixel_sync.run).message == "skipped: Pixel sync disabled"
    assert run_step(ws, pixel_verify.run).message == "skipped: Pixel sync disabled"
    assert len(ws.at(Stage.DOWNLOADED)) == 1
