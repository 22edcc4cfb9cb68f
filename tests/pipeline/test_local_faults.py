"""A full or read-only working folder is this machine's fault: the run halts naming the
folder and the fix, no source file is marked failed, and the next run after the fix
takes every file. The filesystems are real: small tmpfs mounts (mounting needs root)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import MediaFile, Stage
from mediasync.pipeline.download import MAX_DOWNLOAD_ATTEMPTS
from mediasync.pipeline.run import RunResult, run_pipeline
from mediasync.records.doctor import diagnose
from mediasync.records.doctor_fixes import apply_fix
from mediasync.sources import build_source
from tests.helpers import Workspace, sha256

PHOTOS = 6  # about 390 kB each: more than the small disk holds


class SmallDisk:
    """A tmpfs mounted at `path`, made roomy or read-only in place."""

    def __init__(self, path: Path, size: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))

    def _mount(self, *args: str) -> None:
        done = subprocess.run(["mount", *args], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small filesystem here: {done.stderr.strip()}")

    def remount(self, options: str) -> None:
        self._mount("-o", f"remount,{options}", str(self.path))

    def unmount(self) -> None:
        subprocess.run(["umount", str(self.path)], check=True)


@pytest.fixture
def mount() -> Iterator[Callable[[Path, str], SmallDisk]]:
    """Mounts small filesystems; every one is unmounted after the test."""
    disks: list[SmallDisk] = []

    def small_disk(path: Path, size: str) -> SmallDisk:
        disks.append(SmallDisk(path, size))
        return disks[-1]

    yield small_disk
    for disk in disks:
        disk.unmount()


def _library(tmp_path: Path) -> Workspace:
    ws = Workspace.create(tmp_path)
    for seed in range(PHOTOS):
        photo(ws.library / f"IMG_{seed:04d}.jpg",
              PhotoSpec(captured=datetime(2023, 5, 4, 12, seed), seed=seed, size=(1600, 1200)))
    return ws


@pytest.fixture
def incoming_disk(tmp_path: Path, mount) -> tuple[Workspace, SmallDisk]:
    ws = _library(tmp_path)
    return ws, mount(tmp_path / "workflow" / "incoming", "1m")


def _download(ws: Workspace, run_id: str) -> tuple[RunResult, list[MediaFile]]:
    result = run_pipeline(ws.settings(), run_id, 1, 1)
    ledger = ws.ledger()
    try:
        return result, ledger.files_where()
    finally:
        ledger.close()


def test_a_full_working_folder_halts_the_run_and_fails_no_file(incoming_disk):
    ws, disk = incoming_disk
    result, rows = _download(ws, "run-1")

    assert result.failed_step == 1
    assert result.error is not None
    assert f"cannot write in the working folder {disk.path}: No space left on device" \
        in result.error
    assert "free space on that disk" in result.error
    assert [m for m in rows if m.workflow_stage == Stage.FAILED] == []
    assert not [p for p in disk.path.iterdir() if p.name.startswith(".")]  # no temp left

    disk.remount("size=64m")
    result, rows = _download(ws, "run-2")
    assert result.completed, result.message
    assert len(rows) == PHOTOS
    for media in rows:
        assert media.workflow_stage == Stage.DOWNLOADED, media.error
        assert sha256(Path(media.local_path or "")) == media.content_hash


def test_a_read_only_working_folder_halts_the_run_with_the_fix(incoming_disk):
    ws, disk = incoming_disk
    disk.remount("ro")
    result, rows = _download(ws, "run-1")
    assert result.failed_step == 1 and result.error is not None
    assert f"{disk.path}: Read-only file system" in result.error
    assert "remount that filesystem read-write" in result.error
    assert rows == []


def test_the_full_flow_fails_naming_the_folder(incoming_disk, prefect_api):
    ws, disk = incoming_disk
    state = ws.run()
    assert state.is_failed()
    assert f"cannot write in the working folder {disk.path}" in str(state.message)


@pytest.mark.parametrize(("folder", "step", "stage"), [
    ("workflow/processing", 5, Stage.NAS_ARCHIVED),
    ("nas_compressed", 6, Stage.PROCESSING_READY),
])
def test_a_read_only_working_folder_halts_its_step_and_fails_no_file(
        tmp_path: Path, mount, folder: str, step: int, stage: Stage):
    ws = _library(tmp_path)
    disk = mount(tmp_path / folder, "64m")
    disk.remount("ro")
    result = run_pipeline(ws.settings(), "run-1")
    assert result.failed_step == step, result.message
    assert f"cannot write in the working folder {disk.path}: Read-only file system; remount" \
        in (result.error or "")
    ledger = ws.ledger()
    assert {m.workflow_stage for m in ledger.files_where()} == {stage}
    ledger.close()

    disk.remount("rw")
    result = run_pipeline(ws.settings(), "run-2")
    assert result.completed, result.message
    ledger = ws.ledger()
    assert {m.workflow_stage for m in ledger.files_where()} == {Stage.COMPLETED}
    ledger.close()


def _failed_downloading(ws: Workspace, error: str) -> None:
    """The row step 1 leaves for a file it failed to download, its attempts used up."""
    source = build_source(ws.settings())
    [asset] = source.list_assets()
    ledger = ws.ledger()
    try:
        ledger.add_files([MediaFile(
            source=source.name, source_id=asset.source_id, filename=asset.filename,
            size=asset.size, media_type=asset.media_type, workflow_stage=Stage.FAILED,
            error=error, attempts=MAX_DOWNLOAD_ATTEMPTS)], "old-run")
    finally:
        ledger.close()


def test_files_once_failed_by_a_full_disk_are_downloaded_when_it_is_gone(tmp_path: Path):
    """Rows left by versions that blamed the source for a full working folder."""
    ws = Workspace.create(tmp_path)
    photo(ws.library / "IMG_0001.jpg", PhotoSpec(seed=1))
    _failed_downloading(ws, "IMG_0001.jpg: cannot read: No space left on device")
    ledger = ws.ledger()
    [finding] = [f for f in diagnose(ws.settings(), ledger).findings if f.code == "failed"]
    ledger.close()
    assert "a fault of this machine's disk" in finding.fix

    result, [row] = _download(ws, "run-1")
    assert result.completed, result.message
    assert row.workflow_stage == Stage.DOWNLOADED, row.error
    assert row.content_hash == sha256(ws.library / "IMG_0001.jpg")


def test_doctor_releases_a_file_whose_download_attempts_ran_out(tmp_path: Path):
    ws = Workspace.create(tmp_path)
    photo(ws.library / "IMG_0001.jpg", PhotoSpec(seed=1))
    _failed_downloading(ws, "IMG_0001.jpg: connection dropped after 10 of 70697 bytes")
    _, [stuck] = _download(ws, "run-1")
    assert stuck.workflow_stage == Stage.FAILED  # attempts used up: left alone

    ledger = ws.ledger()
    [finding] = [f for f in diagnose(ws.settings(), ledger).findings if f.code == "failed"]
    assert "doctor --fix failed" in finding.fix
    fixed = apply_fix(ws.settings(), ledger, "failed")
    ledger.close()
    assert (fixed.fixed, fixed.skipped) == (1, [])

    result, [row] = _download(ws, "run-2")
    assert result.completed, result.message
    assert row.workflow_stage == Stage.DOWNLOADED, row.error
