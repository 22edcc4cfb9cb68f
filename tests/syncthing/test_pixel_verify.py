"""Verification against two real Syncthing instances: a file counts as on the phone only
when Syncthing proves the phone holds the exact version on this computer's disk."""

from __future__ import annotations

import os
from pathlib import Path

from mediasync.model import MediaFile
from mediasync.pixel.phone import (
    PixelTarget,
    Verification,
    place_batch,
    verify,
)
from mediasync.pixel.syncthing import SyncthingClient
from tests.syncthing.media_files import downloaded, sample_bytes
from tests.syncthing.syncthing_pair import Pair, Shared, share_folder

WAIT = 30.0  # generous: the real wait ends as soon as the phone has the files
SHORT = 2.0  # for the waits that must run out


def make_files(base: Path, count: int, size: int = 4096, start: int = 0) -> list[MediaFile]:
    return [downloaded(base / "incoming", f"IMG_{n:04d}.JPG", sample_bytes(n, size))
            for n in range(start, start + count)]


def place_all(client: SyncthingClient, shared: Shared, files: list[MediaFile]) -> list[str]:
    placement = place_batch(client, shared.target, files)
    assert not placement.failed
    return [shared.target.name_of(path) for _, path in placement.placed]


def wait(client: SyncthingClient, shared: Shared, names: list[str],
         timeout: float = WAIT) -> Verification:
    return verify(client, shared.target, names, timeout=timeout, poll=5)


def test_placed_files_are_verified_at_the_version_on_disk(
        client: SyncthingClient, shared: Shared, tmp_path: Path) -> None:
    files = make_files(tmp_path, 3, size=300_000)
    names = place_all(client, shared, files)
    seen: list[tuple[int, int, str]] = []
    result = verify(client, shared.target, names, timeout=WAIT, poll=5,
                    progress=lambda done, total, name: seen.append((done, total, name)))
    assert sorted(result.held) == names and not result.waiting and not result.gone
    assert [(done, total) for done, total, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    for mf, name in zip(files, names, strict=True):
        info = client.file_info(shared.folder_id, name)
        assert info is not None and info.local is not None
        assert result.held[name] == info.local.label
        assert (shared.phone_dir / name).read_bytes() == Path(mf.local_path).read_bytes()  # type: ignore[arg-type]


def test_false_full_completion_does_not_verify(client: SyncthingClient, running_pair: Pair,
                                               tmp_path: Path) -> None:
    """Syncthing 1.19 reports 100% completion for a device that never announced the folder;
    the file is not on the phone, and must not count as verified."""
    phone = running_pair.phone.device_id
    computer_dir = tmp_path / "pixel_sync"
    running_pair.computer.add_folder("pixel-unannounced", computer_dir, "sendonly", [phone])
    shared = Shared("pixel-unannounced", computer_dir, tmp_path / "phone",
                    PixelTarget(computer_dir, "pixel-unannounced", phone))
    try:
        names = place_all(client, shared, make_files(tmp_path, 1))
        completion = client.completion(shared.folder_id, phone)
        assert completion.completion == 100 and completion.sequence == 0  # the trap is set
        result = wait(client, shared, names, timeout=SHORT)
        assert result.held == {}
        assert result.waiting == {names[0]: "not on the device yet"}
    finally:
        running_pair.computer.remove_folder("pixel-unannounced")


def test_file_changed_after_placement_waits_for_the_new_version(
        client: SyncthingClient, running_pair: Pair, tmp_path: Path) -> None:
    # no watcher: Syncthing learns of the change only if the verification asks for a scan
    shared = share_folder(running_pair, tmp_path, fsWatcherEnabled=False)
    phone = running_pair.phone.device_id
    try:
        names = place_all(client, shared, make_files(tmp_path, 1))
        first = wait(client, shared, names).held[names[0]]
        pixel_file = shared.computer_dir / names[0]
        running_pair.computer.request("POST", "/rest/system/pause", params={"device": phone})
        try:
            with open(pixel_file, "r+b") as handle:  # same size, new bytes, new mtime
                handle.write(b"edited!")
            mtime = pixel_file.stat().st_mtime_ns + 1_000_000_000
            os.utime(pixel_file, ns=(mtime, mtime))
            assert wait(client, shared, names, timeout=SHORT).held == {}
        finally:
            running_pair.computer.request("POST", "/rest/system/resume", params={"device": phone})
        fresh = wait(client, shared, names)
        assert fresh.held[names[0]] != first  # the old version's presence proved nothing
        assert (shared.phone_dir / names[0]).read_bytes() == pixel_file.read_bytes()
    finally:
        running_pair.unshare(shared.folder_id)


def test_file_gone_from_the_pixel_folder_is_reported(
        client: SyncthingClient, shared: Shared, tmp_path: Path) -> None:
    names = place_all(client, shared, make_files(tmp_path, 2))
    (shared.computer_dir / names[0]).unlink()
    result = wait(client, shared, names)
    assert result.gone == [names[0]] and list(result.held) == [names[1]]
