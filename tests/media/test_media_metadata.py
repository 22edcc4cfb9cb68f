from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mediasync.errors import MediaError
from mediasync.media import samples
from mediasync.media.exif import GPS
from mediasync.media.metadata import parse_iso6709, read_metadata
from mediasync.model import MediaType

PARIS = GPS(*samples.PARIS)


def test_jpeg_gives_capture_time_with_offset_gps_camera_orientation_and_icc(media):
    info = read_metadata(media["jpeg"])
    assert info.media_type == MediaType.IMAGE and info.format == "JPEG"
    assert info.captured_at == datetime(2019, 7, 14, 18, 30, 5,
                                        tzinfo=timezone(timedelta(hours=2)))
    assert info.captured_offset == "+02:00"
    assert info.gps == PARIS
    assert (info.make, info.model) == ("Apple", "iPhone 12")
    assert info.orientation == 6
    assert (info.width, info.height) == (640, 480)
    assert (info.display_width, info.display_height) == (480, 640)
    assert info.has_icc_profile


def test_heic_is_read_as_displayed(media):
    """pillow-heif turns the pixels itself and resets Orientation to 1."""
    info = read_metadata(media["heic"])
    assert info.format == "HEIF"
    assert info.orientation == 1
    assert (info.display_width, info.display_height) == (480, 640)
    assert info.captured_at == datetime(2022, 5, 1, 2, 0, 0, tzinfo=UTC)
    assert info.gps == GPS(*samples.KYOTO)


def test_png_without_offset_gives_local_capture_time(media):
    info = read_metadata(media["png"])
    assert info.format == "PNG"
    assert info.captured_at == datetime(2019, 7, 14, 18, 30, 5)
    assert info.captured_offset is None and info.gps is None


def test_mp4_gives_creation_time_location_rotation_duration_and_codecs(media):
    info = read_metadata(media["mp4"])
    assert info.media_type == MediaType.VIDEO and info.format == "mp4"
    assert info.captured_at == datetime(2020, 8, 1, 9, 15, 0, tzinfo=UTC)
    assert info.location == "+48.8584+002.2945/"
    assert info.gps == GPS(48.8584, 2.2945)
    assert info.rotation == 90
    assert (info.display_width, info.display_height) == (240, 320)
    assert info.duration == pytest.approx(1.5, abs=0.1)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")


def test_mov_prefers_the_local_creation_date_with_its_offset(media):
    info = read_metadata(media["mov"])
    assert info.captured_at == datetime(2021, 10, 31, 17, 5, 0,
                                        tzinfo=timezone(timedelta(hours=-5)))
    assert info.captured_offset == "-05:00"
    assert info.gps == GPS(40.6892, -74.0445, 10.0)
    assert info.rotation == 270


def test_live_photo_image_and_video_share_moment_and_place(media):
    image, clip = read_metadata(media["live_heic"]), read_metadata(media["live_mov"])
    assert image.captured_at == clip.captured_at
    assert image.gps == clip.gps


@pytest.mark.parametrize(("name", "why"), [
    ("truncated_jpeg", "truncated"),
    ("truncated_mp4", "does not decode"),
    ("empty", "empty file"),
    ("text", "not a readable image"),
])
def test_bad_file_raises_one_line_media_error_naming_it(media, name, why):
    with pytest.raises(MediaError) as caught:
        read_metadata(media[name])
    message = str(caught.value)
    assert message.startswith(f"{media[name].name}: ")
    assert why in message
    assert "\n" not in message


def test_mp4_cut_inside_its_index_fails(media, tmp_path):
    cut = samples.truncated(media["mp4"], tmp_path / "cut.mp4", keep=0.002)
    with pytest.raises(MediaError, match="^cut.mp4: (no video stream|not a readable video)"):
        read_metadata(cut)


def test_empty_video_fails(tmp_path):
    with pytest.raises(MediaError, match="clip.mov: empty file"):
        read_metadata(samples.empty(tmp_path / "clip.mov"))


@pytest.mark.parametrize(("name", "kind"), [
    ("sidecar", MediaType.SIDECAR), ("unknown", MediaType.OTHER)])
def test_sidecars_and_unknown_types_are_classified_with_a_note(media, name, kind):
    info = read_metadata(media[name])
    assert info.media_type == kind
    assert not info.handled
    assert info.note


@pytest.mark.parametrize("name", ["-dash start.mp4", "it's \"quoted\".mov", "a:b c.mp4"])
def test_hostile_video_names_are_only_file_names(media, tmp_path, name):
    copy = tmp_path / name
    shutil.copyfile(media["mp4"], copy)
    assert read_metadata(copy).rotation == 90


def test_as_dict_is_json_ready(media):
    import json

    data = json.loads(json.dumps(read_metadata(media["jpeg"]).as_dict()))
    assert data["captured_at"] == "2019-07-14T18:30:05+02:00"
    assert data["gps"]["latitude"] == pytest.approx(48.8584)
    assert data["media_type"] == "image"


def test_iso6709_parses_with_and_without_altitude():
    assert parse_iso6709("-33.8568+151.2153+005.000/") == GPS(-33.8568, 151.2153, 5.0)
    assert parse_iso6709("+35.6586+139.7454/") == GPS(35.6586, 139.7454)
    assert parse_iso6709("nowhere") is None


def test_missing_file_is_a_media_error(tmp_path: Path):
    with pytest.raises(MediaError, match="gone.jpg: no such file"):
        read_metadata(tmp_path / "gone.jpg")
