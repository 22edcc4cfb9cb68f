"""`mediasync syncthing check` against the real pair: one screen, one verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediasync.cli.syncthing import app
from tests.syncthing.pixel_workspace import PixelWorkspace
from tests.syncthing.syncthing_pair import Pair, Shared, free_port

runner = CliRunner()


def check(ws: PixelWorkspace) -> tuple[int, str]:
    result = runner.invoke(app, ["check", "--config", str(ws.config)])
    return result.exit_code, result.output


def test_good_setup_passes_every_check(tmp_path: Path, running_pair: Pair,
                                       shared: Shared) -> None:
    code, out = check(PixelWorkspace.share(tmp_path, running_pair, shared))
    assert code == 0, out
    for line in ("Syncthing", "API key", "folder", "shared", "folder type", "Pixel folder",
                 "device"):
        assert f"ok {line} " in " ".join(out.split()) or f"warn {line} " in " ".join(out.split())
    assert "FAIL" not in out
    assert running_pair.computer.api_key not in out


@pytest.mark.parametrize(("override", "expected"), [
    ({"key": "wrong"}, "rejected the API key"),
    ({"folder_id": "no-such-folder"}, "has no folder 'no-such-folder'"),
    ({"url": "http://127.0.0.1:{port}"}, "unreachable at"),
], ids=["wrong key", "unknown folder", "not running"])
def test_each_broken_setup_says_what_is_wrong(tmp_path: Path, running_pair: Pair,
                                              shared: Shared, override: dict[str, str],
                                              expected: str) -> None:
    values = {k: v.format(port=free_port()) for k, v in override.items()}
    code, out = check(PixelWorkspace.share(tmp_path, running_pair, shared, **values))
    assert code == 1
    assert "FAIL" in out and expected in " ".join(out.split())
    assert running_pair.computer.api_key not in out


def test_stopped_phone_fails_the_device_check(tmp_path: Path, running_pair: Pair,
                                              shared: Shared) -> None:
    running_pair.phone.stop()
    code, out = check(PixelWorkspace.share(tmp_path, running_pair, shared))
    assert code == 1
    flat = " ".join(out.split())
    assert "FAIL device device" in flat and "not connected since" in flat
    assert "ok shared" in flat  # everything else is still checked and fine


def test_missing_settings_are_named(tmp_path: Path, running_pair: Pair,
                                    shared: Shared) -> None:
    ws = PixelWorkspace.share(tmp_path, running_pair, shared)
    ws.config.write_text("\n".join(line for line in ws.config.read_text().splitlines()
                                   if not line.startswith("folder_id = ")))
    code, out = check(ws)
    assert code != 0
    assert "folder_id" in " ".join(out.split())
