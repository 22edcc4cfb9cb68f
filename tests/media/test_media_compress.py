from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from mediasync.files import sha256_file
from mediasync.media import samples
from mediasync.media.compress import CompressJob, choose_rule, compress_file
from mediasync.media.images import decoded_image
from mediasync.media.metadata import read_metadata
from mediasync.media.samples import PhotoSpec
from mediasync.settings import CompressionRule, CompressionSettings

PRESERVED = ("captured_at", "gps", "rotation", "make", "model", "content_identifier",
             "has_icc_profile")


def compress(source: Path, out: Path, settings: CompressionSettings, **kw):
    return compress_file(CompressJob(source, out / source.name), settings, **kw)


@pytest.mark.parametrize("name", ["jpeg", "heic", "png", "mp4", "mov", "live_heic",
                                  "live_mov"])
def test_compressed_copy_decodes_and_keeps_what_makes_it_theirs(media, settings, tmp_path,
                                                                 name):
    source = media[name]
    before_hash = sha256_file(source)
    result = compress(source, tmp_path, settings)
    assert result.status == "compressed", result.reason
    assert result.output is not None and result.output.stat().st_size < source.stat().st_size
    before, after = read_metadata(source), read_metadata(result.output)  # decodes fully
    for fact in PRESERVED:
        assert getattr(after, fact) == getattr(before, fact), fact
    assert (after.display_width, after.display_height) == (
        before.display_width, before.display_height)
    if before.duration is not None:
        assert after.duration == pytest.approx(before.duration, abs=0.5)
    assert sha256_file(source) == before_hash
    assert [p.name for p in tmp_path.iterdir()] == [result.output.name]


@pytest.mark.parametrize("name", ["jpeg", "heic", "png"])
def test_image_copy_shows_the_same_picture_the_same_way_up_with_the_same_profile(
        media, settings, tmp_path, name):
    result = compress(media[name], tmp_path, settings)
    with decoded_image(media[name]) as original, decoded_image(result.output) as copy:
        assert copy.info.get("icc_profile") == original.info.get("icc_profile")
        shown = ImageOps.exif_transpose(original).convert("RGB")
        shown_copy = ImageOps.exif_transpose(copy).convert("RGB")
        assert shown.size == shown_copy.size
        difference = ImageStat.Stat(ImageChops.difference(shown, shown_copy)).mean
        assert max(difference) < 8  # lossy, but the same picture, not a turned one


def test_jpeg_keeps_orientation_tag_and_stored_pixels(media, settings, tmp_path):
    result = compress(media["jpeg"], tmp_path, settings)
    info = read_metadata(result.output)
    assert info.orientation == 6 and (info.width, info.height) == (640, 480)


def test_heic_and_png_become_jpg_of_the_same_stem_so_live_pairs_still_pair(
        media, settings, tmp_path):
    heic = compress(media["heic"], tmp_path, settings).output
    assert heic == tmp_path / "IMG_0002.jpg"
    png = compress(media["png"], tmp_path, settings).output
    assert png == tmp_path / "Screenshot 1.jpg"
    live = compress(media["live_heic"], tmp_path, settings).output
    clip = compress(media["live_mov"], tmp_path, settings).output
    assert (live.name, clip.name) == ("IMG_0005.jpg", "IMG_0005.MOV")


def test_heic_beside_a_jpeg_of_the_same_stem_is_named_after_its_whole_name(
        media, settings, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    heic = shutil.copy(media["heic"], folder / "IMG_7.HEIC")
    jpeg = shutil.copy(media["jpeg"], folder / "IMG_7.JPG")
    assert compress(heic, tmp_path / "out", settings).output == (
        tmp_path / "out" / "IMG_7.HEIC.jpg")
    assert compress(jpeg, tmp_path / "out", settings).output == tmp_path / "out" / "IMG_7.JPG"


def test_max_long_edge_shrinks_images_and_videos_keeping_orientation(media, tmp_path):
    settings = CompressionSettings(rules=[
        CompressionRule(media_type="image", strategy="jpeg", max_long_edge=320),
        CompressionRule(media_type="video", strategy="h264", max_long_edge=160,
                        preset="ultrafast")])
    photo = read_metadata(compress(media["jpeg"], tmp_path, settings).output)
    assert (photo.display_width, photo.display_height) == (240, 320)
    clip = read_metadata(compress(media["mp4"], tmp_path, settings).output)
    assert (clip.width, clip.height, clip.rotation) == (160, 120, 90)


def test_result_metadata_records_strategy_codec_parameters_sizes_and_tools(
        media, settings, tmp_path):
    data = compress(media["mp4"], tmp_path, settings).metadata
    assert data["strategy"] == "hevc" and data["codec"] == "hevc"
    assert data["parameters"]["crf"] == 30 and data["parameters"]["encoder"] == "libx265"
    assert data["original_size"] == media["mp4"].stat().st_size
    assert data["ratio"] == pytest.approx(data["compressed_size"] / data["original_size"],
                                          abs=1e-4)
    assert data["tools"]["ffmpeg"].startswith("5.")
    photo = compress(media["heic"], tmp_path, settings).metadata
    assert {"pillow", "pillow_heif", "libheif"} == set(photo["tools"])


def test_hevc_output_is_tagged_hvc1_for_apple_players(media, settings, tmp_path):
    import ffmpeg

    out = compress(media["mp4"], tmp_path, settings).output
    streams = ffmpeg.probe(str(out))["streams"]
    assert [s["codec_tag_string"] for s in streams if s["codec_type"] == "video"] == ["hvc1"]
    assert [s["codec_name"] for s in streams if s["codec_type"] == "audio"] == ["aac"]


def test_strategy_that_would_grow_the_file_keeps_the_original_and_says_so(tmp_path):
    source = samples.photo(tmp_path / "small.jpg", PhotoSpec(quality=30))
    before = sha256_file(source)
    settings = CompressionSettings(min_saving=0, rules=[
        CompressionRule(media_type="image", strategy="jpeg", quality=100)])
    result = compress(source, tmp_path / "out", settings)
    assert result.status == "kept"
    assert result.reason.startswith("kept original: would grow by ")
    assert result.output is None
    assert sha256_file(source) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_saving_below_the_margin_keeps_the_original(media, tmp_path):
    settings = CompressionSettings(min_saving=0.99, rules=[
        CompressionRule(media_type="image", strategy="jpeg", quality=80)])
    result = compress(media["jpeg"], tmp_path, settings)
    assert result.status == "kept" and "less than 99%" in result.reason
    assert list(tmp_path.iterdir()) == []


def test_bad_file_fails_with_its_reason_and_leaves_nothing(media, settings, tmp_path):
    result = compress(media["truncated_mp4"], tmp_path, settings)
    assert result.status == "failed"
    assert result.reason.startswith("broken.mp4: ")
    assert list(tmp_path.iterdir()) == []


def test_video_progress_counts_seconds_up_to_the_duration(media, settings, tmp_path):
    seen: list[tuple[float, float]] = []
    compress(media["mov"], tmp_path, settings, progress=lambda d, t: seen.append((d, t)))
    total = read_metadata(media["mov"]).duration
    assert seen[-1] == (total, total)
    assert all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("name", ["-dash start.mp4", "it's \"quoted\" $(x).mp4", "a:b c.mov"])
def test_hostile_names_compress_safely(media, settings, tmp_path, name):
    source = tmp_path / "in" / name
    source.parent.mkdir()
    shutil.copyfile(media["mp4"], source)
    result = compress(source, tmp_path / "out", settings)
    assert result.status == "compressed", result.reason
    assert result.output == tmp_path / "out" / name


def test_keep_rule_and_unmatched_files_are_kept(media, tmp_path):
    settings = CompressionSettings(rules=[
        CompressionRule(media_type="image", formats=["heic"], strategy="keep")])
    assert compress(media["heic"], tmp_path, settings).status == "kept"
    assert compress(media["mp4"], tmp_path, settings).reason == (
        "kept original: no rule compresses it")


def test_rules_match_on_type_format_and_age(media):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    old_videos = CompressionRule(media_type="video", older_than_days=730, strategy="hevc")
    photos = CompressionRule(media_type="image", formats=["jpg"], strategy="jpeg")
    rules = [old_videos, photos]
    old = CompressJob(media["mp4"], Path("x"), captured_at=now - timedelta(days=800))
    new = CompressJob(media["mp4"], Path("x"), captured_at=now - timedelta(days=10))
    assert choose_rule(rules, old, now) is old_videos
    assert choose_rule(rules, new, now) is None
    assert choose_rule(rules, CompressJob(media["jpeg"], Path("x")), now) is photos
    assert choose_rule(rules, CompressJob(media["png"], Path("x")), now) is None


def test_rule_formats_accept_dots_and_capitals():
    assert CompressionRule(formats=[".HEIC", "Jpg"]).formats == ["heic", "jpg"]


def test_strategy_for_another_media_type_keeps_the_file(media, tmp_path):
    settings = CompressionSettings(rules=[CompressionRule(strategy="hevc")])
    result = compress(media["jpeg"], tmp_path, settings)
    assert result.status == "kept" and "does not apply to image" in result.reason


def test_transparent_png_is_laid_on_white(tmp_path):
    source = tmp_path / "logo.png"
    noise = Image.effect_noise((128, 128), 60).convert("RGB").convert("RGBA")
    noise.putalpha(Image.new("L", (128, 128), 255))
    noise.paste((255, 0, 0, 0), (0, 0, 64, 64))  # a fully transparent red corner
    noise.save(source)
    settings = CompressionSettings(min_saving=0, rules=[
        CompressionRule(media_type="image", strategy="jpeg", quality=90)])
    result = compress(source, tmp_path / "out", settings)
    assert result.status == "compressed", result.reason
    with decoded_image(result.output) as copy:
        assert copy.mode == "RGB"
        assert copy.getpixel((20, 20)) == pytest.approx((255, 255, 255), abs=4)
