"""Issue 26: a compressed copy is kept only when it is proven faithful. Each test makes
the file of one row of the issue, compresses it, and reads the kept copy back with
exiftool and ffprobe (or proves the copy was discarded, with its figure)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from mediasync.files import sha256_file
from mediasync.media import likeness, samples
from mediasync.media.compress import DEFAULT_MIN_SSIM, CompressJob, compress_file
from mediasync.media.images import decoded_image
from mediasync.media.samples import PhotoSpec, VideoSpec
from mediasync.model import MediaType, Stage
from mediasync.settings import CompressionRule, CompressionSettings
from tests.helpers import Workspace
from tests.media.pipeline_run import files_by_name, run_steps

JPEG = CompressionSettings(min_saving=0, rules=[
    CompressionRule(media_type="image", strategy="jpeg", quality=85)])


def exiftool(path: Path, *tags: str) -> dict[str, Any]:
    """What exiftool reads from the file (-n: numbers as numbers, not prose)."""
    done = subprocess.run(["exiftool", "-j", "-n", "-G1", *tags, str(path)],
                          capture_output=True, text=True, check=True)
    found: dict[str, Any] = json.loads(done.stdout)[0]
    return found


def compress(source: Path, out: Path, settings: CompressionSettings = JPEG):
    return compress_file(CompressJob(source, out / source.name), settings)


def grey_scan(path: Path) -> Path:
    """A 16-bit greyscale PNG, as a film scanner writes: a gradient with grain inside a
    dark frame, every value above 255 (Pillow's own 8-bit conversion makes it white)."""
    width, height = 600, 400
    grain = random.Random(26)
    scan = Image.new("I;16", (width, height))
    scan.putdata([min(65535, 1000 + (x * 60000) // width + grain.randrange(4000))
                  if 20 < y < height - 20 else 3000
                  for y in range(height) for x in range(width)])
    scan.save(path)
    return path


def test_16_bit_grey_scan_becomes_an_8_bit_grey_jpeg_of_the_same_picture(tmp_path):
    source = grey_scan(tmp_path / "scan-001.png")
    assert exiftool(source)["PNG:BitDepth"] == 16
    result = compress(source, tmp_path / "out")
    assert result.status == "compressed", result.reason
    copy = exiftool(result.output)
    assert (copy["File:ColorComponents"], copy["File:BitsPerSample"]) == (1, 8)
    with decoded_image(source) as original, decoded_image(result.output) as kept:
        expected = original.convert("I").point(lambda v: v / 257).convert("L")
        assert kept.mode == "L"
        assert ImageStat.Stat(kept).mean[0] == pytest.approx(
            ImageStat.Stat(expected).mean[0], abs=2)  # not 255: not a white page
        assert kept.getpixel((300, 200)) == pytest.approx(expected.getpixel((300, 200)),
                                                          abs=4)
    assert result.metadata["likeness"]["ssim"] >= DEFAULT_MIN_SSIM[MediaType.IMAGE]


def test_a_white_page_does_not_pass_for_a_16_bit_scan(tmp_path):
    """The proof itself: what the old conversion made (every pixel clipped to 255)."""
    with decoded_image(grey_scan(tmp_path / "scan.png")) as scan:
        clipped = scan.convert("L")  # Pillow's own conversion clips
        assert ImageStat.Stat(clipped).extrema[0][0] == 255
        found = likeness.compare(likeness.render_image(scan), likeness.render_image(clipped))
    assert found.ssim < DEFAULT_MIN_SSIM[MediaType.IMAGE]
    assert found.psnr < 10


def test_copy_below_its_floor_is_discarded_with_its_figure(tmp_path):
    source = grey_scan(tmp_path / "scan.png")
    absurd = CompressionSettings(min_saving=0, rules=[
        CompressionRule(media_type="image", strategy="jpeg", quality=1, min_ssim=0.99)])
    result = compress(source, tmp_path / "out", absurd)
    assert result.status == "kept" and result.output is None
    assert result.reason.startswith("kept original: the compressed copy does not look "
                                    "like it (SSIM 0.")
    figure = result.metadata["likeness"]
    assert figure["floor"] == 0.99 and figure["ssim"] < 0.99 and figure["psnr"] > 0
    assert not any((tmp_path / "out").iterdir())


def test_video_below_its_floor_is_discarded_with_its_figure(media, tmp_path):
    absurd = CompressionSettings(min_saving=0, rules=[
        CompressionRule(media_type="video", strategy="hevc", crf=51, preset="ultrafast")])
    result = compress(media["mp4"], tmp_path / "out", absurd)
    assert result.status == "kept", result.reason
    assert "does not look like it (SSIM" in result.reason
    assert result.metadata["likeness"]["ssim"] < DEFAULT_MIN_SSIM[MediaType.VIDEO]
    assert not any((tmp_path / "out").iterdir())


def test_video_copy_records_its_likeness_over_sampled_frames(media, settings, tmp_path):
    result = compress(media["mov"], tmp_path, settings)
    assert result.status == "compressed", result.reason
    figure = result.metadata["likeness"]
    assert DEFAULT_MIN_SSIM[MediaType.VIDEO] <= figure["ssim"] <= 1 and figure["seconds"] > 0


def test_a_turned_video_does_not_pass_for_its_original(media, tmp_path):
    """Frames compared as players show them: the same clip without its rotation flag
    is another picture."""
    flat = tmp_path / "flat.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(media["mp4"]), "-c", "copy",
                    "-metadata:s:v:0", "rotate=0", str(flat)], check=True)
    source = media["mp4"]
    found = likeness.video_likeness(source, flat, 1.5, 240, 320)
    assert found.ssim < 0.5
    same = likeness.video_likeness(source, source, 1.5, 240, 320)
    assert same.ssim == pytest.approx(1.0)


REPLACING = """
[compression]
replace_original = true
min_saving = 0

[[compression.rules]]
media_type = "image"
strategy = "jpeg"
quality = 1
min_ssim = 0.99
"""


def test_replace_original_leaves_the_archived_original_when_the_copy_fails_its_floor(
        tmp_path):
    workspace = Workspace.create(tmp_path, REPLACING)
    grey_scan(workspace.library / "scan-001.png")
    settings = workspace.settings()
    run_steps(settings, 6)
    scan = files_by_name(settings)["scan-001.png"][0]
    archived = Path(scan.nas_path)
    assert archived.is_file() and sha256_file(archived) == scan.content_hash
    assert scan.workflow_stage == Stage.COMPRESSED and scan.compressed is False
    metadata = scan.compression_metadata
    assert metadata["result"] == "kept" and metadata["likeness"]["ssim"] < 0.99
    assert "replaced_original" not in metadata
    assert [p.name for p in archived.parent.iterdir()] == ["scan-001.png"]


def with_iptc(path: Path) -> Path:
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-codedcharacterset=utf8",
                    "-IPTC:Caption-Abstract=Grand-mère à Kyōto",
                    "-IPTC:Keywords=family", "-IPTC:Keywords=temple",
                    "-IPTC:By-line=Ana Lima", "-IPTC:City=Kyoto", str(path)], check=True)
    return path


def test_iptc_caption_keywords_and_byline_are_carried(media, tmp_path):
    source = with_iptc(shutil.copy(media["jpeg"], tmp_path / "IMG_0001.JPG"))
    wanted = exiftool(source, "-IPTC:all")
    assert wanted["IPTC:Keywords"] == ["family", "temple"]
    result = compress(source, tmp_path / "out")
    assert result.status == "compressed", result.reason
    kept = exiftool(result.output, "-IPTC:all")
    del wanted["SourceFile"], kept["SourceFile"]
    assert kept == wanted
    assert exiftool(result.output, "-EXIF:Orientation")["IFD0:Orientation"] == 6


def picture(path: Path, mode: str) -> Path:
    """The sample photo (gradients, shapes, grain) in `mode`; the transparent ones with
    a see-through corner."""
    base_file = path.with_name(f".base-{path.stem}.png")
    base = samples.photo(base_file, PhotoSpec(gps=None, icc=False))
    with Image.open(base) as opened:
        image = opened.convert(mode if mode not in ("P+t",) else "RGB")
    if mode == "P+t":
        image = image.quantize(255)
        image.info["transparency"] = 0
        image.paste(0, (0, 0, 100, 100))
    elif mode in ("RGBA", "LA"):
        image.paste((0,) * len(mode), (0, 0, 100, 100))
    save = {"CMYK": {"format": "JPEG", "quality": 95}}.get(mode, {})
    if "transparency" in image.info:
        save["transparency"] = image.info["transparency"]
    image.save(path, **save)
    return path


def rgb48_png(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=480x320,noise=alls=12:allf=t", "-frames:v", "1",
                    "-pix_fmt", "rgb48be", str(path)], check=True)
    return path


@pytest.mark.parametrize(("mode", "components"), [
    ("L", 1), ("1", 1), ("P", 3), ("P+t", 3), ("RGBA", 3), ("LA", 3), ("CMYK", 4),
    ("RGB48", 3)])
def test_every_pixel_format_maps_to_a_jpeg_that_looks_the_same(tmp_path, mode, components):
    name = "photo.jpg" if mode == "CMYK" else f"photo-{mode.replace('+', '')}.png"
    source = rgb48_png(tmp_path / name) if mode == "RGB48" else picture(tmp_path / name,
                                                                        mode)
    result = compress(source, tmp_path / "out")
    assert result.metadata["likeness"]["ssim"] >= DEFAULT_MIN_SSIM[MediaType.IMAGE]
    if mode == "1":  # a bilevel PNG is smaller than any JPEG of it
        assert result.status == "kept" and "would grow" in result.reason
        return
    assert result.status == "compressed", result.reason
    copy = exiftool(result.output)
    assert (copy["File:ColorComponents"], copy["File:BitsPerSample"]) == (components, 8)
    with decoded_image(source) as original, decoded_image(result.output) as kept:
        assert kept.size == original.size
        if mode in ("P+t", "RGBA", "LA"):  # the see-through corner is white on the page
            assert kept.convert("RGB").getpixel((50, 50)) == pytest.approx((255,) * 3,
                                                                          abs=6)


@pytest.mark.parametrize(("mode", "reason"), [
    ("F", "floating-point pixels"), ("I", "32-bit integer pixels")])
def test_pixels_jpeg_cannot_hold_are_refused_with_the_reason(tmp_path, mode, reason):
    source = tmp_path / f"render-{mode}.tif"
    Image.linear_gradient("L").convert(mode).save(source)
    result = compress(source, tmp_path / "out")
    assert result.status == "kept" and reason in result.reason
    assert result.output is None and not (tmp_path / "out").exists() or not any(
        (tmp_path / "out").iterdir())


MASTERING = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"


def hlg_video(path: Path) -> Path:
    """A 10-bit HLG HEVC clip with mastering display and MaxCLL 1000 / MaxFALL 400."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
         "-t", "1.5", "-c:v", "libx265", "-preset", "ultrafast", "-crf", "12",
         "-pix_fmt", "yuv420p10le", "-color_primaries", "bt2020", "-color_trc",
         "arib-std-b67", "-colorspace", "bt2020nc", "-x265-params",
         f"log-level=error:master-display={MASTERING}:max-cll=1000,400",
         "-tag:v", "hvc1", str(path)], check=True)
    return path


def first_frame(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
         "-show_frames", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    side = {entry["side_data_type"]: entry
            for entry in found["frames"][0].get("side_data_list", [])}
    return {"stream": found["streams"][0], "side": side}


def test_hlg_video_keeps_10_bits_colour_and_hdr_static_metadata(tmp_path):
    source = hlg_video(tmp_path / "VID_HLG.MP4")
    hevc = CompressionSettings(min_saving=0, rules=[
        CompressionRule(media_type="video", strategy="hevc", crf=32, preset="ultrafast")])
    result = compress(source, tmp_path / "out", hevc)
    assert result.status == "compressed", result.reason
    before, after = first_frame(source), first_frame(result.output)
    for key in ("pix_fmt", "color_transfer", "color_primaries", "color_space"):
        assert after["stream"][key] == before["stream"][key], key
    assert after["stream"]["pix_fmt"] == "yuv420p10le"
    for kind in ("Mastering display metadata", "Content light level metadata"):
        assert after["side"][kind] == before["side"][kind], kind
    assert after["side"]["Content light level metadata"]["max_content"] == 1000
    assert exiftool(result.output)["Track1:TransferCharacteristics"] == 18  # HLG


def test_hlg_video_is_refused_by_h264_which_cannot_carry_its_metadata(tmp_path):
    source = hlg_video(tmp_path / "VID_HLG.MP4")
    h264 = CompressionSettings(min_saving=0, rules=[
        CompressionRule(media_type="video", strategy="h264", preset="ultrafast")])
    result = compress(source, tmp_path / "out", h264)
    assert result.status == "kept" and "HDR mastering display" in result.reason
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_location_with_an_altitude_is_compared_as_a_position(tmp_path):
    """ffmpeg rewrites `+35.000/` as `+35.000000/`: the same place."""
    source = samples.video(tmp_path / "VID_ALT.MP4", VideoSpec(location=None))
    subprocess.run(["exiftool", "-q", "-overwrite_original",
                    "-UserData:GPSCoordinates=48.8584, 2.2945, 35", str(source)], check=True)
    hevc = CompressionSettings(min_saving=0, rules=[
        CompressionRule(media_type="video", strategy="hevc", preset="ultrafast")])
    result = compress(source, tmp_path / "out", hevc)
    assert result.status == "compressed", result.reason
    kept = exiftool(result.output, "-GPSLatitude", "-GPSLongitude", "-GPSAltitude")
    # 1.5e-5 degrees: about a metre here (exiftool reads the 16.16 fixed point `loci`)
    assert kept["Composite:GPSLatitude"] == pytest.approx(48.8584, abs=1.5e-5)
    assert kept["Composite:GPSLongitude"] == pytest.approx(2.2945, abs=1.5e-5)
    assert kept["Composite:GPSAltitude"] == pytest.approx(35, abs=1)


def test_a_position_moved_by_more_than_a_metre_is_lost():
    from mediasync.media.compress import same_place
    from mediasync.media.exif import GPS

    here = GPS(48.8584, 2.2945, 35.0)
    assert same_place(here, GPS(48.858404, 2.294504, 35.4))  # about 0.5 m
    assert not same_place(here, GPS(48.8585, 2.2945, 35.0))  # about 11 m
    assert not same_place(here, GPS(48.8584, 2.2945, None))  # the altitude lost
    assert not same_place(here, None) and same_place(None, None)


def test_heic_with_exif_orientation_and_no_rotation_box_keeps_its_orientation(tmp_path):
    """pillow-heif says Orientation 1 for it, though nothing turned the pixels."""
    source = samples.photo(tmp_path / "IMG_0042.HEIC", PhotoSpec(orientation=1))
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-n", "-IFD0:Orientation=6",
                    str(source)], check=True)
    assert "QuickTime:Rotation" not in exiftool(source)  # no irot box
    result = compress(source, tmp_path / "out")
    assert result.status == "compressed", result.reason
    assert result.output.name == "IMG_0042.jpg"
    kept = exiftool(result.output)
    assert kept["IFD0:Orientation"] == 6
    assert (kept["File:ImageWidth"], kept["File:ImageHeight"]) == (640, 480)  # unturned


def test_heic_with_a_rotation_box_is_turned_once(media, tmp_path):
    result = compress(media["heic"], tmp_path / "out")
    kept = exiftool(result.output)
    assert kept["IFD0:Orientation"] == 1
    assert (kept["File:ImageWidth"], kept["File:ImageHeight"]) == (480, 640)


def test_the_likeness_render_proves_a_jpeg_decodes(media, tmp_path):
    """Step 6 decodes an image copy once, for its render: a truncated copy must fail it."""
    from mediasync.errors import MediaError

    broken = samples.truncated(media["jpeg"], tmp_path / "copy.jpg", keep=0.7)
    with pytest.raises(MediaError, match="copy.jpg: cannot decode image"):
        likeness.render_file(broken)


@pytest.mark.parametrize("name", ["VID_XYZ.MP4", "VID_XYZ.MOV"])
def test_quicktime_xyz_location_is_kept_as_it_was(tmp_path, name):
    from mediasync.media.udta import read_xyz

    source = samples.video(tmp_path / name, VideoSpec(location=None, seconds=2))
    subprocess.run(["exiftool", "-q", "-overwrite_original",
                    "-UserData:GPSCoordinates=48.8584, 2.2945, 35", str(source)], check=True)
    wanted = exiftool(source, "-UserData:GPSCoordinates")["UserData:GPSCoordinates"]
    hevc = CompressionSettings(min_saving=0, rules=[
        CompressionRule(media_type="video", strategy="hevc", preset="ultrafast")])
    result = compress(source, tmp_path / "out", hevc)
    assert result.status == "compressed", result.reason
    assert result.metadata["parameters"]["quicktime_xyz"] == "kept"
    assert read_xyz(result.output) == read_xyz(source) is not None
    assert exiftool(result.output, "-UserData:GPSCoordinates")[
        "UserData:GPSCoordinates"] == wanted
    # the moov grew in front of the media: every frame still decodes where it was
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(result.output), "-f", "null",
                           "-"], capture_output=True, text=True, check=True)
    assert done.stderr == ""
    assert first_frame(result.output)["stream"]["nb_frames"] == first_frame(source)[
        "stream"]["nb_frames"]


def test_hdr_heic_is_refused_by_jpeg_with_the_reason(tmp_path):
    source = tmp_path / "IMG_HDR.HEIC"
    picture = Image.effect_noise((256, 256), 40).convert("RGB")
    picture.save(source, transfer_characteristics=18, color_primaries=9,
                 matrix_coefficients=9)  # HLG, BT.2020: an iPhone's HDR photo
    result = compress(source, tmp_path / "out")
    assert result.status == "kept"
    assert result.reason == ("kept original: an HDR picture (HLG) would lose its range "
                             "and colours as an 8-bit JPEG")


def test_step5_says_where_each_capture_time_comes_from(tmp_path):
    workspace = Workspace.create(tmp_path)
    samples.photo(workspace.library / "naive.jpg", PhotoSpec(offset=None))
    samples.photo(workspace.library / "zoned.jpg", PhotoSpec(offset="+02:00"))
    Image.effect_noise((64, 64), 30).save(workspace.library / "undated.png")
    samples.video(workspace.library / "clip.mp4", VideoSpec(location=None))
    settings = workspace.settings()
    run_steps(settings, 5)
    files = {name: found[0] for name, found in files_by_name(settings).items()}
    source = {name: media.media_metadata["captured_at_source"] for name, media in files.items()}
    assert source == {"naive.jpg": "camera, local time, zone unknown",
                      "zoned.jpg": "camera, with its UTC offset",
                      "undated.png": "source or import time: the file has no capture time",
                      "clip.mp4": "video container, UTC"}
    assert files["naive.jpg"].media_metadata["captured_offset"] is None
