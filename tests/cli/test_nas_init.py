"""`mediasync nas init`, and the archive identity in `config check`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mediasync.cli.main import app
from mediasync.errors import ArchiveError
from mediasync.nas.archive import MARKER_NAME
from mediasync.nas.identity import recorded
from mediasync.pipeline.steps import STEPS, open_context
from tests.helpers import Workspace

runner = CliRunner()


def _init(workspace: Workspace, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["nas", "init", "--config", str(workspace.config), *extra])
    return result.exit_code, result.output


def _known(workspace: Workspace) -> str | None:
    ledger = workspace.ledger()
    try:
        known = recorded(ledger)
    finally:
        ledger.close()
    return known.id if known else None


def test_init_adopts_an_archive_that_already_holds_files(workspace: Workspace) -> None:
    (workspace.nas / "2019").mkdir()
    (workspace.nas / "2019" / "IMG_1.JPG").write_bytes(b"archived before identities")
    ctx = open_context(workspace.settings(), "run-1")
    try:
        with pytest.raises(ArchiveError, match="run `mediasync nas init`"):
            STEPS[3].run(ctx)
    finally:
        ctx.ledger.close()

    code, said = _init(workspace)

    assert code == 0, said
    known = _known(workspace)
    assert known is not None and known in (workspace.nas / MARKER_NAME).read_text()
    assert f"marked {workspace.nas} as the archive (id {known})" in said
    assert _init(workspace) == (0, f"{workspace.nas} is already the archive (id {known})\n")
    check = runner.invoke(app, ["config", "check", "--config", str(workspace.config)])
    assert check.exit_code == 0 and f"archive: archive id {known}" in check.stdout


def test_init_refuses_another_archive_unless_forced(workspace: Workspace) -> None:
    assert _init(workspace)[0] == 0
    first = _known(workspace)
    other = workspace.root / "other_nas"
    other.mkdir()
    (workspace.nas / MARKER_NAME).rename(other / MARKER_NAME)
    (workspace.nas / MARKER_NAME).write_text("mediasync archive id: someone-else\n")

    code, said = _init(workspace)
    assert code == 1
    assert f"is marked as archive someone-else, but the ledger knows archive {first}" in said
    check = runner.invoke(app, ["config", "check", "--config", str(workspace.config)])
    assert check.exit_code == 1
    assert f"NAS not mounted or not the archive (expected id {first})" in check.stderr

    code, said = _init(workspace, "--force")
    assert code == 0, said
    assert _known(workspace) == "someone-else"


def test_init_never_creates_a_missing_archive_folder(workspace: Workspace) -> None:
    workspace.nas.rmdir()
    code, said = _init(workspace)
    assert code == 1 and "does not exist (is the NAS mounted?)" in said
    assert not workspace.nas.exists() and _known(workspace) is None
