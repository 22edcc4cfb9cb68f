"""Step 7 on a real folder source: a delete counts only on the source's word, and the
intents a killed run left are resolved by asking the source (issue 22)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasync.ledger.base import DeletionState, Ledger
from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile
from mediasync.pipeline.deletion import intents
from mediasync.pipeline.interrupted_deletes import STILL_THERE
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.records.doctor import diagnose
from mediasync.sources.folder import FolderSource
from tests.helpers import Workspace

NAMES = ("A.jpg", "B.jpg", "C.jpg", "D.jpg")
SETTINGS = """
[guards]
keep_recent_days = 0

[compression]
enabled = false
"""


@pytest.fixture
def proven(tmp_path: Path) -> Workspace:
    """Four photos archived and proven safe; source.delete on, nothing deleted yet."""
    workspace = Workspace.create(tmp_path, SETTINGS)
    for seed, name in enumerate(NAMES):
        photo(workspace.library / name, PhotoSpec(size=(16, 16), seed=seed, icc=False))
    _steps(workspace, STEPS[:6])
    workspace.config.write_text(workspace.config.read_text().replace(
        'path = "library"', 'path = "library"\ndelete = true'))
    return workspace


def _steps(workspace: Workspace, steps: object) -> list[str]:
    ctx = open_context(workspace.settings(), "run-test")
    try:
        return [step.run(ctx).message for step in steps]  # type: ignore[attr-defined]
    finally:
        ctx.ledger.close()


def _step_seven(workspace: Workspace) -> str:
    return _steps(workspace, STEPS[6:7])[0]


@pytest.fixture
def ledger(proven: Workspace) -> Iterator[Ledger]:
    opened = proven.ledger()
    yield opened
    opened.close()


def _file(ledger: Ledger, name: str) -> MediaFile:
    [media] = ledger.files_where(filename=name)
    return media


def _states(ledger: Ledger, name: str) -> list[tuple[str, str | None]]:
    return [(p.state.value, p.answer) for p in ledger.deletions(_file(ledger, name).id)]  # type: ignore[arg-type]


@pytest.fixture
def immutable(proven: Workspace) -> Iterator[Path]:
    """D.jpg, which not even root may unlink (ext4's immutable flag)."""
    path = proven.library / "D.jpg"
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("needs chattr +i (root on ext4 or xfs) to make a file that refuses unlink")
    yield path
    subprocess.run(["chattr", "-i", str(path)], check=True)


def test_refused_deletes_stay_at_the_source_with_the_answer_in_the_ledger(
        proven: Workspace, ledger: Ledger, immutable: Path) -> None:
    changed = proven.library / "C.jpg"
    changed.write_bytes(changed.read_bytes() + b"edited since")
    message = _step_seven(proven)
    assert "deleted 2 at the source" in message
    assert sorted(p.name for p in proven.library.iterdir()) == ["C.jpg", "D.jpg"]
    for name in ("A.jpg", "B.jpg"):
        assert _states(ledger, name) == [("confirmed", None)]
        assert _file(ledger, name).source_deleted_at is not None
    refusals = {"C.jpg": "changed at the source since download",
                "D.jpg": "cannot delete: Operation not permitted"}
    for name, answer in refusals.items():
        assert _states(ledger, name) == [("kept", answer)]
        media = _file(ledger, name)
        assert media.source_deleted_at is None
        assert media.error == f"not deleted at the source: {answer}"
    assert ledger.open_intents(_file(ledger, "A.jpg").source) == []


def _killed_run(ledger: Ledger, names: tuple[str, ...]) -> None:
    """What a run killed inside a batch leaves: the batch's intents, committed."""
    ledger.record_intents(intents([_file(ledger, n) for n in names], run_id="killed"))


def test_intents_of_a_killed_run_are_resolved_by_asking_the_source(
        proven: Workspace, ledger: Ledger) -> None:
    _killed_run(ledger, ("A.jpg", "B.jpg"))
    (proven.library / "A.jpg").unlink()  # the killed run's delete of A went through
    message = _step_seven(proven)
    assert "1 interrupted deletes confirmed, 1 files still at the source" in message
    assert "deleted 3 at the source" in message  # B again, after the gate, and C, D
    assert list(proven.library.iterdir()) == []
    [confirmed] = ledger.deletions(_file(ledger, "A.jpg").id)  # type: ignore[arg-type]
    assert (confirmed.state, confirmed.run_id) == (DeletionState.CONFIRMED, "killed")
    assert _states(ledger, "B.jpg") == [("kept", STILL_THERE), ("confirmed", None)]
    assert all(m.source_deleted_at is not None for m in ledger.files_where())
    assert ledger.open_intents(_file(ledger, "A.jpg").source) == []


def test_a_source_that_is_gone_resolves_nothing(proven: Workspace, ledger: Ledger) -> None:
    _killed_run(ledger, ("A.jpg",))
    proven.library.rename(proven.library.with_name("unmounted"))
    with pytest.raises(Exception, match="does not exist"):
        FolderSource(proven.library).still_present([_file(ledger, "A.jpg")])
    assert len(ledger.open_intents(_file(ledger, "A.jpg").source)) == 1


def test_doctor_calls_an_unconfirmed_delete_mediasync_s_own(proven: Workspace,
                                                            ledger: Ledger) -> None:
    _killed_run(ledger, ("A.jpg",))
    (proven.library / "A.jpg").unlink()
    (proven.library / "B.jpg").unlink()  # by someone else
    settings = proven.settings()
    report = diagnose(settings, ledger, FolderSource(settings.resolve(settings.source.path)))  # type: ignore[arg-type]
    found = {f.code: f for f in report.findings}
    assert found["delete_unconfirmed"].examples == ["A.jpg (A.jpg)"]
    assert "deleted by mediasync; the next run confirms it" in found["delete_unconfirmed"].summary
    assert found["removed_at_source"].examples == ["B.jpg (B.jpg)"]


class _CannotTell:
    """The folder source as a source without still_present would be (iCloud before it
    had one): everything else passes through."""

    def __init__(self, inner: FolderSource) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        if name == "still_present":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_no_delete_while_intents_stay_unresolved(proven: Workspace, ledger: Ledger) -> None:
    _killed_run(ledger, ("A.jpg",))
    ctx = open_context(proven.settings(), "run-test")
    try:
        ctx.source = _CannotTell(ctx.source)  # type: ignore[arg-type,assignment]
        message = STEPS[6].run(ctx).message
    finally:
        ctx.ledger.close()
    assert "1 interrupted deletes left open" in message
    assert "nothing deleted at the source" in message
    assert sorted(p.name for p in proven.library.iterdir()) == list(NAMES)
    assert len(ledger.open_intents(_file(ledger, "A.jpg").source)) == 1
