"""Steps 2 and 3 through the real media-sync flow on real Prefect and real Syncthing."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediasync.model import Stage
from tests.syncthing.media_files import sample_bytes
from tests.syncthing.pixel_workspace import PixelWorkspace
from tests.syncthing.syncthing_pair import Pair, Shared

pytestmark = pytest.mark.usefixtures("prefect_api")


def library(ws: PixelWorkspace, count: int) -> dict[str, bytes]:
    files = {f"IMG_{n:04d}.JPG": sample_bytes(n) for n in range(count)}
    for name, data in files.items():
        (ws.library / name).write_bytes(data)
    return files


def test_twelve_files_reach_the_phone_five_at_a_time_over_three_runs(
        tmp_path: Path, running_pair: Pair, shared: Shared) -> None:
    ws = PixelWorkspace.share(tmp_path, running_pair, shared)
    files = library(ws, 12)
    verified_after = []
    for _ in range(3):
        state = ws.run(start=1, end=3)
        assert state.is_completed(), state.message
        assert len(ws.at(Stage.PIXEL_SYNC_READY)) == 0
        verified_after.append(len(ws.at(Stage.PIXEL_VERIFIED)))
        # everything in the folder is verified: no run left more than 5 in flight
        assert len(ws.pixel_files()) == verified_after[-1]
    assert verified_after == [5, 10, 12]
    for media in ws.at(Stage.PIXEL_VERIFIED):
        assert media.pixel_synced and media.pixel_version
        name = Path(media.pixel_path).name  # type: ignore[arg-type]
        assert (ws.phone_dir / name).read_bytes() == files[media.filename]


@pytest.mark.parametrize(("override", "expected"), [
    ({"key": "not-the-key"}, "rejected the API key"),
    ({"folder_id": "no-such-folder"}, "has no folder 'no-such-folder'"),
], ids=["wrong key", "unknown folder"])
def test_broken_setup_halts_the_flow_at_step_two_and_moves_nothing(
        tmp_path: Path, running_pair: Pair, shared: Shared, override: dict[str, str],
        expected: str) -> None:
    ws = PixelWorkspace.share(tmp_path, running_pair, shared, **override)
    library(ws, 3)
    state = ws.run(start=1, end=4)
    assert state.is_failed()
    assert state.message.startswith("step 2 (pixel sync) failed: ")
    assert expected in state.message and "\n" not in state.message
    assert running_pair.computer.api_key not in state.message
    assert len(ws.at(Stage.DOWNLOADED)) == 3 and ws.pixel_files() == set()


def test_phone_away_halts_at_step_three_and_the_next_run_verifies(
        tmp_path: Path, running_pair: Pair, shared: Shared,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = PixelWorkspace.share(tmp_path, running_pair, shared)
    files = library(ws, 2)
    running_pair.phone.stop()
    monkeypatch.setenv("MEDIASYNC_WORKFLOW__SYNC_TIMEOUT_SECONDS", "2")
    state = ws.run(start=1, end=8)
    assert state.is_failed()
    assert state.message.startswith("step 3 (pixel verification) failed: timed out")
    assert "not connected since" in state.message
    assert all(name in state.message for name in files)
    assert len(ws.at(Stage.PIXEL_SYNC_READY)) == 2 and not ws.at(Stage.NAS_ARCHIVED)

    running_pair.phone.start()
    monkeypatch.setenv("MEDIASYNC_WORKFLOW__SYNC_TIMEOUT_SECONDS", "30")
    assert ws.run(start=1, end=3).is_completed()
    assert len(ws.at(Stage.PIXEL_VERIFIED)) == 2
