"""Step 1 reads a video's dates from its moov box without ffprobe: it must read what
ffprobe reads, and leave to ffprobe what it cannot read."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mediasync.media import samples
from mediasync.media.capture import capture_time
from mediasync.media.quicktime import date_tags
from mediasync.media.samples import VideoSpec
from mediasync.media.video import probe
from mediasync.model import MediaType

WANTED = ("creation_time", "com.apple.quicktime.creationdate")


def ffprobe_dates(path: Path) -> dict[str, str]:
    tags = probe(path).get("format", {}).get("tags", {})
    return {key: tags[key] for key in WANTED if key in tags}


@pytest.mark.parametrize("name", ["mp4", "mov", "live_mov"])
def test_reads_the_dates_ffprobe_reads(media: dict[str, Path], name: str) -> None:
    assert date_tags(media[name]) == ffprobe_dates(media[name])


def test_local_creation_date_wins_as_with_ffprobe(media: dict[str, Path]) -> None:
    tags = date_tags(media["mov"])
    assert tags is not None and tags["com.apple.quicktime.creationdate"].endswith("-0500")
    got = capture_time(media["mov"], MediaType.VIDEO)
    assert got is not None and got.utcoffset() == timedelta(hours=-5)
    assert got.astimezone(UTC) == datetime(2021, 10, 31, 22, 5, 0, tzinfo=UTC)


def test_moov_at_the_end_and_64_bit_sizes(tmp_path: Path) -> None:
    """Without faststart, moov comes after a large mdat; a box may use a 64-bit size."""
    clip = samples.video(tmp_path / "clip.mp4", VideoSpec(
        creation_time=datetime(2019, 3, 2, 1, 0, 0, tzinfo=UTC)))
    boxes = _split(clip.read_bytes())
    filler = b"\0" * 5000
    wide = struct.pack(">I4sQ", 1, b"free", 16 + len(filler)) + filler
    moved = tmp_path / "moved.mp4"
    moved.write_bytes(b"".join([boxes[b"ftyp"], wide, boxes[b"mdat"], boxes[b"moov"]]))
    assert date_tags(moved) == ffprobe_dates(moved) == {
        "creation_time": "2019-03-02T01:00:00.000000Z"}


@pytest.mark.parametrize("name", ["truncated_mp4", "text", "empty"])
def test_what_it_cannot_read_goes_to_ffprobe(media: dict[str, Path], name: str) -> None:
    tags = date_tags(media[name])
    assert tags is None or tags == ffprobe_dates(media[name])


def test_garbage_box_sizes_end_quietly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mov"
    bad.write_bytes(struct.pack(">I4s", 3, b"ftyp") + b"x" * 100)
    assert date_tags(bad) is None
    bad.write_bytes(struct.pack(">I4s", 40, b"moov") + struct.pack(">I4s", 999, b"mvhd")
                    + b"\0" * 24)
    assert date_tags(bad) == {}


def _split(data: bytes) -> dict[bytes, bytes]:
    """The top-level boxes, whole, by type."""
    boxes, position = {}, 0
    while position < len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        boxes[kind] = data[position:position + size]
        position += size
    return boxes


def test_a_date_beyond_any_calendar_goes_to_ffprobe(tmp_path: Path) -> None:
    mvhd = struct.pack(">B3sQQ", 1, b"\0\0\0", 2**63, 0) + b"\0" * 80
    moov = struct.pack(">I4s", 8 + 8 + len(mvhd), b"moov") + struct.pack(
        ">I4s", 8 + len(mvhd), b"mvhd") + mvhd
    odd = tmp_path / "odd.mov"
    odd.write_bytes(moov)
    assert date_tags(odd) is None
