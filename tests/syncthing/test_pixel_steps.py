"""Steps 2 and 3 (their core functions, without Prefect) on a real ledger, a real folder
source and two real Syncthing instances: every broken set-up, and dry runs. The happy path
and the halts go through the flow in test_pixel_flow.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mediasync.errors import (
    MediasyncError,
    SyncthingFolderError,
    SyncthingKeyRejected,
    SyncthingUnreachable,
)
from mediasync.model import Stage
from mediasync.pipeline import pixel_sync, pixel_verify
from tests.syncthing.media_files import sample_bytes
from tests.syncthing.pixel_workspace import PixelWorkspace
from tests.syncthing.syncthing_pair import Pair, Shared, free_port


def library(count: int, size: int = 4096) -> dict[str, bytes]:
    return {f"IMG_{n:04d}.JPG": sample_bytes(n, size) for n in range(count)}


TIMEOUT_ENV = "MEDIASYNC_WORKFLOW__SYNC_TIMEOUT_SECONDS"


@pytest.fixture
def ws(tmp_path: Path, running_pair: Pair, shared: Shared,
       monkeypatch: pytest.MonkeyPatch) -> PixelWorkspace:
    monkeypatch.setenv(TIMEOUT_ENV, "30")
    return PixelWorkspace.share(tmp_path, running_pair, shared)


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


@pytest.mark.parametrize("broken", list(BROKEN))
@pytest.mark.parametrize("step", ["step2", "step3"])
def test_broken_setup_is_one_line_and_moves_nothing(
        step: str, broken: str, tmp_path: Path, running_pair: Pair, shared: Shared) -> None:
    ws = PixelWorkspace.share(tmp_path, running_pair, shared)
    ws.download(library(2))
    stage = Stage.DOWNLOADED
    if step == "step3":  # placed while the set-up was good
        ws.step(pixel_sync.run)
        stage = Stage.PIXEL_SYNC_READY
    before = ws.pixel_files()
    overrides, error, text = BROKEN[broken]
    PixelWorkspace.share(tmp_path, running_pair, shared, **overrides(running_pair))
    with pytest.raises(error) as caught:
        ws.step(pixel_sync.run if step == "step2" else pixel_verify.run)
    message = str(caught.value)
    assert text in message and "\n" not in message
    assert running_pair.computer.api_key not in message
    assert len(ws.at(stage)) == 2 and ws.pixel_files() == before


def test_nothing_to_do_needs_no_syncthing(tmp_path: Path, running_pair: Pair,
                                          shared: Shared) -> None:
    ws = PixelWorkspace.share(tmp_path, running_pair, shared, url="http://127.0.0.1:9")
    assert ws.step(pixel_sync.run).message == "nothing to place (0 on their way)"
    assert ws.step(pixel_verify.run).message == "nothing to verify"


def test_dry_run_places_nothing_and_scans_nothing(ws: PixelWorkspace,
                                                   running_pair: Pair) -> None:
    ws.download(library(3))
    computer = running_pair.computer
    since = computer.get("/rest/events", events="StateChanged,LocalIndexUpdated", since=0,
                         limit=1, timeout=0)
    start = since[-1]["id"] if since else 0
    plan2 = ws.step(pixel_sync.run, dry_run=True)
    plan3 = ws.step(pixel_verify.run, dry_run=True)
    assert plan2.done == 3 and len(plan2.planned) == 3 and plan3.message == "nothing to verify"
    assert ws.pixel_files() == set() and len(ws.at(Stage.DOWNLOADED)) == 3
    events = computer.get("/rest/events", events="StateChanged,LocalIndexUpdated",
                          since=start, timeout=1)
    assert not [e for e in events if e["data"].get("folder") == ws.folder_id]


def test_dry_run_of_step_three_reports_what_the_phone_holds(ws: PixelWorkspace) -> None:
    ws.download(library(2))
    ws.step(pixel_sync.run)
    ws.step(pixel_verify.run)
    ws.download({"IMG_0099.JPG": sample_bytes(99)})
    ws.step(pixel_sync.run)
    before = {m.filename for m in ws.at(Stage.PIXEL_SYNC_READY)}
    plan = ws.step(pixel_verify.run, dry_run=True)
    assert len(plan.planned) == 1 and before == {"IMG_0099.JPG"}
    assert {m.filename for m in ws.at(Stage.PIXEL_SYNC_READY)} == before


def test_disabled_pixel_sync_is_skipped(tmp_path: Path, running_pair: Pair,
                                        shared: Shared) -> None:
    ws = PixelWorkspace.share(tmp_path, running_pair, shared)
    ws.config.write_text(ws.config.read_text().replace("enabled = true", "enabled = false"))
    ws.download(library(1))
    assert ws.step(pixel_sync.run).message == "skipped: Pixel sync disabled"
    assert ws.step(pixel_verify.run).message == "skipped: Pixel sync disabled"
    assert len(ws.at(Stage.DOWNLOADED)) == 1
