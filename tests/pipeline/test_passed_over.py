"""Nothing at the source is skipped in silence: every entry a folder listing meets and
does not import is counted with its reason in step 1's report and named by the doctor."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediasync.cli.main import app
from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import Stage
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.records.doctor import diagnose
from mediasync.sources import build_source
from tests.helpers import Workspace

TAKEN = datetime(2023, 5, 4, 12)


@pytest.fixture
def odd_entries(tmp_path: Path) -> Iterator[Workspace]:
    """A library holding one photo, a sidecar, and one of every entry that is no file."""
    ws = Workspace.create(tmp_path)
    lib = ws.library
    photo(lib / "IMG_0001.jpg", PhotoSpec(captured=TAKEN, seed=1))
    (lib / "IMG_0001.AAE").write_text("<plist>edits</plist>")
    photo(lib / ".hidden" / "IMG_0002.jpg", PhotoSpec(captured=TAKEN, seed=2))
    (lib / "link.jpg").symlink_to(lib / "IMG_0001.jpg")
    (lib / "album").symlink_to(lib)  # a link back up: followed, it would never end
    (lib / "loop.jpg").symlink_to(lib / "loop.jpg")
    (lib / "gone.jpg").symlink_to(lib / "nothing-here.jpg")
    os.mkfifo(lib / "pipe.jpg")
    try:  # /dev/null's numbers; making a device file needs root
        os.mknod(lib / "null.jpg", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device file needs root")
    (lib / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (lib / ".IMG_0003.jpg.mediasync-partial").write_bytes(b"\xff\xd8\xff")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(lib / "control.sock"))
        yield ws


EXPECTED = {
    "hidden folder (source.include_hidden is off)": [".hidden"],
    "symlink (not followed)": ["link.jpg"],
    "symlink to a folder (not followed)": ["album"],
    "symlink loop": ["loop.jpg"],
    "broken symlink": ["gone.jpg"],
    "FIFO (named pipe)": ["pipe.jpg"],
    "socket": ["control.sock"],
    "device file": ["null.jpg"],
    "system file": [".DS_Store"],
    "partial download": [".IMG_0003.jpg.mediasync-partial"],
}


def _download(ws: Workspace) -> StepReport:
    ctx = open_context(ws.settings(), "run-1")
    try:
        return STEPS[0].run(ctx)
    finally:
        ctx.ledger.close()


def test_step_one_counts_every_entry_it_does_not_import_with_its_reason(odd_entries):
    ws = odd_entries
    report = _download(ws)
    assert (report.done, report.skipped, report.failed) == (1, 1, 0)
    for reason in EXPECTED:
        assert f"1 {reason}" in report.message, report.message

    ledger = ws.ledger()
    rows = {m.source_id: m for m in ledger.files_where()}
    assert set(rows) == {"IMG_0001.jpg", "IMG_0001.AAE"}
    assert rows["IMG_0001.AAE"].workflow_stage == Stage.SKIPPED  # with its reason
    assert "sidecar" in (rows["IMG_0001.AAE"].error or "")

    report = diagnose(ws.settings(), ledger, build_source(ws.settings()))
    ledger.close()
    found = {f.summary.removeprefix("not imported: "): f.examples
             for f in report.findings if f.code == "passed_over"}
    assert found == EXPECTED
    hidden = [f for f in report.findings if f.code == "passed_over" and "hidden" in f.summary]
    assert hidden[0].fix == "set source.include_hidden = true to import dot-folders"


def test_doctor_command_shows_what_the_listing_passed_over(odd_entries):
    result = CliRunner().invoke(app, ["doctor", "-c", str(odd_entries.config), "--json"])
    findings = json.loads(result.output)["findings"]
    assert {"code": "passed_over", "summary": "not imported: symlink loop",
            "examples": ["loop.jpg"]}.items() <= next(
        f for f in findings if f["summary"] == "not imported: symlink loop").items()


def test_include_hidden_imports_dot_folders(odd_entries):
    ws = odd_entries
    text = ws.config.read_text().replace('kind = "folder"',
                                         'kind = "folder"\ninclude_hidden = true')
    ws.config.write_text(text)

    report = _download(ws)
    assert report.done == 2
    assert "hidden folder" not in report.message
    ledger = ws.ledger()
    assert ".hidden/IMG_0002.jpg" in {m.source_id for m in ledger.files_where()}
    ledger.close()
