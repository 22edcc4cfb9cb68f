"""A paused folder, on this computer or on the phone, is named as paused: by the steps
and by `mediasync syncthing check`, which prints its table and no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediasync.cli.syncthing import app
from mediasync.errors import SyncthingFolderError
from mediasync.pipeline import pixel_sync
from tests.syncthing.pixel_workspace import PixelWorkspace
from tests.syncthing.syncthing_pair import Instance, Pair, Shared

runner = CliRunner()


def _pause(instance: Instance, folder_id: str, paused: bool) -> None:
    instance.request("PATCH", f"/rest/config/folders/{folder_id}", json={"paused": paused})


@pytest.fixture
def paused_here(running_pair: Pair, shared: Shared) -> Iterator[Shared]:
    _pause(running_pair.computer, shared.folder_id, True)
    yield shared
    _pause(running_pair.computer, shared.folder_id, False)


def test_a_folder_paused_on_this_computer_is_named_paused(
        tmp_path: Path, running_pair: Pair, paused_here: Shared) -> None:
    ws = PixelWorkspace.share(tmp_path, running_pair, paused_here)
    ws.download({"IMG_0001.JPG": b"\xff\xd8" + b"x" * 4000})

    with pytest.raises(SyncthingFolderError, match="is paused on this computer") as caught:
        ws.step(pixel_sync.run)
    assert "no folder" not in str(caught.value)

    result = runner.invoke(app, ["check", "--config", str(ws.config)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "is paused on this computer" in " ".join(result.output.split())
