"""Placing files into the Pixel folder: atomic, never overwriting, never duplicating."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mediasync.errors import FileProblem
from mediasync.pixel.phone import SYNCTHING_TEMP, PixelTarget, place, window_room
from mediasync.pixel.syncthing import SyncthingClient
from tests.syncthing.media_files import downloaded, sample_bytes
from tests.syncthing.syncthing_pair import Pair, Shared

SHM = Path("/dev/shm")


def test_place_hard_links_the_working_copy(tmp_path: Path) -> None:
    mf = downloaded(tmp_path / "incoming", "IMG_0001.JPG", sample_bytes(1))
    dest = place(mf, tmp_path / "pixel", mf.filename)
    assert dest == tmp_path / "pixel" / "IMG_0001.JPG"
    assert os.path.samefile(dest, mf.local_path)  # type: ignore[arg-type]


def test_place_again_reuses_the_same_file(tmp_path: Path) -> None:
    mf = downloaded(tmp_path / "incoming", "IMG_0001.JPG", sample_bytes(1))
    first = place(mf, tmp_path / "pixel", mf.filename)
    assert place(mf, tmp_path / "pixel", mf.filename) == first
    assert sorted(p.name for p in (tmp_path / "pixel").iterdir()) == ["IMG_0001.JPG"]


def test_name_taken_by_other_content_gets_a_distinct_name(tmp_path: Path) -> None:
    pixel = tmp_path / "pixel"
    pixel.mkdir()
    (pixel / "IMG_0001.JPG").write_bytes(b"someone else's photo")
    mf = downloaded(tmp_path / "incoming", "IMG_0001.JPG", sample_bytes(2))
    dest = place(mf, pixel, mf.filename)
    assert dest.name == f"IMG_0001_{mf.content_hash[:8]}.JPG"  # type: ignore[index]
    assert (pixel / "IMG_0001.JPG").read_bytes() == b"someone else's photo"
    assert dest.read_bytes() == Path(mf.local_path).read_bytes()  # type: ignore[arg-type]


def test_hostile_name_stays_inside_the_folder(tmp_path: Path) -> None:
    mf = downloaded(tmp_path / "incoming", "x.jpg", b"data")
    dest = place(mf, tmp_path / "pixel", "../../etc/passwd")
    assert dest.parent == tmp_path / "pixel"


@pytest.mark.skipif(not SHM.is_dir() or SHM.stat().st_dev == Path("/tmp").stat().st_dev,
                    reason="needs a second filesystem (/dev/shm) to make hard links impossible")
def test_across_filesystems_it_copies_and_leaves_no_temp(tmp_path: Path) -> None:
    incoming = SHM / f"mediasync-test-{os.getpid()}"
    try:
        mf = downloaded(incoming, "VID_0001.MOV", sample_bytes(3, 300_000))
        dest = place(mf, tmp_path / "pixel", mf.filename)
        assert not os.path.samefile(dest, mf.local_path)  # type: ignore[arg-type]
        assert dest.read_bytes() == Path(mf.local_path).read_bytes()  # type: ignore[arg-type]
        assert [p.name for p in (tmp_path / "pixel").iterdir()] == ["VID_0001.MOV"]
    finally:
        for path in incoming.glob("*"):
            path.unlink()
        incoming.rmdir()


def test_prefixed_names_when_configured(tmp_path: Path) -> None:
    mf = downloaded(tmp_path / "incoming", "IMG_0001.JPG", b"data")
    mf.captured_at = datetime(2025, 1, 15, 14, 30, 22, tzinfo=UTC)
    target = PixelTarget(tmp_path / "pixel", "pixel", "DEVICE", prefix_names=True)
    assert target.file_name(mf) == "step02_pixel_sync_20250115_143022_IMG_0001.JPG"
    assert PixelTarget(tmp_path / "pixel", "pixel", "DEVICE").file_name(mf) == "IMG_0001.JPG"


def test_missing_working_copy_fails_that_file_alone(tmp_path: Path) -> None:
    mf = downloaded(tmp_path / "incoming", "gone.jpg", b"data")
    Path(mf.local_path).unlink()  # type: ignore[arg-type]
    with pytest.raises(FileProblem, match="working copy missing"):
        place(mf, tmp_path / "pixel", mf.filename)


def test_window_counts_placed_unverified_files() -> None:
    assert window_room(batch_size=5, in_flight=0) == 5
    assert window_room(batch_size=5, in_flight=3) == 2
    assert window_room(batch_size=5, in_flight=5) == 0
    assert window_room(batch_size=5, in_flight=9) == 0  # the batch size was lowered


def test_syncthing_skips_the_temporary_copy_name(client: SyncthingClient, shared: Shared,
                                                  running_pair: Pair) -> None:
    """The copy fallback relies on this: a file under Syncthing's own temporary name is
    never indexed, so a half-written copy cannot reach the phone."""
    temp = shared.computer_dir / SYNCTHING_TEMP.format("IMG_0002.JPG")
    temp.write_bytes(b"half written")
    client.scan(shared.folder_id, [temp.name])
    assert client.file_info(shared.folder_id, temp.name) is None
