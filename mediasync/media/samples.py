"""Small, realistic media made on the spot (Pillow, pillow-heif, ffmpeg's test sources):
photos with EXIF capture time, offset, GPS, orientation and an ICC profile; HEIC; PNG;
MP4/MOV with creation time, location and rotation; live-photo pairs; and the broken
files a real library holds. The demo builds its library with `demo_library`; the tests
use the same makers."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import ffmpeg
from PIL import Image, ImageCms, ImageDraw
from PIL.TiffImagePlugin import IFDRational

from mediasync.media import exif as tags
from mediasync.media import images  # noqa: F401  registers the HEIF opener for HEIC samples
from mediasync.media.video import ffmpeg_path

PARIS = (48.8584, 2.2945, 35.0)
KYOTO = (34.9671, 135.7727, 12.5)


@dataclass(frozen=True)
class PhotoSpec:
    captured: datetime = datetime(2019, 7, 14, 18, 30, 5)
    offset: str | None = "+02:00"
    gps: tuple[float, float, float] | None = PARIS
    orientation: int = 1
    icc: bool = True
    size: tuple[int, int] = (640, 480)
    make: str = "Apple"
    model: str = "iPhone 12"
    quality: int = 95
    seed: int = 1


@dataclass(frozen=True)
class VideoSpec:
    creation_time: datetime = datetime(2020, 8, 1, 9, 15, 0, tzinfo=UTC)
    local_offset: str | None = None  # e.g. "+0200": adds QuickTime's local CreationDate
    location: str | None = "+48.8584+002.2945/"
    rotation: int = 0
    seconds: float = 1.5
    size: tuple[int, int] = (320, 240)
    audio: bool = True
    content_identifier: str | None = None  # ties a live photo's MOV to its image


def photo(path: Path, spec: PhotoSpec = PhotoSpec(), fmt: str | None = None) -> Path:
    """Write a photo; the format follows the extension (JPEG, HEIF, PNG) unless given."""
    fmt = fmt or {"heic": "HEIF", "heif": "HEIF", "png": "PNG"}.get(
        path.suffix.lower().lstrip("."), "JPEG")
    image = _picture(spec.size, spec.seed)
    options: dict[str, object] = {"exif": _exif(spec).tobytes()}
    if spec.icc:
        options["icc_profile"] = srgb_profile()
    if fmt in ("JPEG", "HEIF"):
        options["quality"] = spec.quality
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **options)
    return path


def video(path: Path, spec: VideoSpec = VideoSpec()) -> Path:
    """Write a short H.264 (+AAC) MP4 or MOV with QuickTime metadata. The rotation is set
    by a second, copying pass: ffmpeg 5.1 ignores it on an encoding pass."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = spec.size
    streams = [ffmpeg.input(f"testsrc=size={width}x{height}:rate=15", f="lavfi",
                            t=spec.seconds)]
    if spec.audio:
        streams.append(ffmpeg.input("sine=frequency=440:sample_rate=44100", f="lavfi",
                                    t=spec.seconds))
    plain = path.with_name(f".{path.name}.plain{path.suffix}")
    _run(ffmpeg.output(*streams, ffmpeg_path(plain), vcodec="libx264", preset="ultrafast",
                       crf=18, pix_fmt="yuv420p", acodec="aac"))
    copy = ffmpeg.output(ffmpeg.input(ffmpeg_path(plain)), ffmpeg_path(path), c="copy",
                         map_metadata=0, movflags="+use_metadata_tags+faststart",
                         **{"metadata:s:v:0": f"rotate={spec.rotation}"})
    args = ffmpeg.compile(copy.global_args("-nostdin", "-y", "-v", "error"))
    # ffmpeg-python cannot repeat an option; the tags go in just before the output name.
    at = args.index(ffmpeg_path(path))
    args[at:at] = [arg for key, value in _video_tags(spec).items()
                   for arg in ("-metadata", f"{key}={value}")]
    subprocess.run(args, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    plain.unlink()
    return path


def live_photo(folder: Path, stem: str, captured: datetime, offset: str = "+09:00",
               gps: tuple[float, float, float] = KYOTO) -> tuple[Path, Path]:
    """An iPhone live photo: a HEIC and a MOV of the same name and moment."""
    identifier = f"{stem}-live-0000"
    image = photo(folder / f"{stem}.HEIC", PhotoSpec(captured=captured, offset=offset,
                                                     gps=gps, seed=7))
    zone = tags.parse_offset(offset) or UTC
    moment = captured.replace(tzinfo=zone)
    clip = video(folder / f"{stem}.MOV", VideoSpec(
        creation_time=moment.astimezone(UTC), local_offset=offset.replace(":", ""),
        location=_iso6709(gps), seconds=1.5, rotation=0, content_identifier=identifier))
    return image, clip


def truncated(source: Path, dest: Path, keep: float = 0.5) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


def empty(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def text_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is a shopping list, not a photo\n")
    return path


def demo_library(root: Path) -> list[Path]:
    """A small library: dated and geotagged photos (one rotated), a HEIC, a screenshot,
    a video, a live photo, a sidecar, two different photos with one name in two folders,
    an empty file and a truncated JPEG."""
    made = [
        photo(root / "2019/IMG_0001.JPG", PhotoSpec(orientation=6, seed=1)),
        photo(root / "2021/IMG_0002.JPG", PhotoSpec(
            captured=datetime(2021, 12, 24, 20, 1, 0), offset="+01:00", seed=2)),
        photo(root / "2022/IMG_0003.HEIC", PhotoSpec(
            captured=datetime(2022, 5, 1, 11, 0, 0), gps=KYOTO, offset="+09:00", seed=3)),
        photo(root / "Screenshots/Screenshot 2024-01-02.png", PhotoSpec(
            captured=datetime(2024, 1, 2, 8, 0, 0), gps=None, offset=None, seed=4)),
        video(root / "2020/VID_0004.MP4", VideoSpec(rotation=90)),
        *live_photo(root / "2023", "IMG_0005", datetime(2023, 4, 2, 14, 3, 9)),
        photo(root / "trip-a/IMG_0100.JPG", PhotoSpec(seed=10)),
        photo(root / "trip-b/IMG_0100.JPG", PhotoSpec(
            captured=datetime(2018, 3, 3, 3, 3, 3), gps=KYOTO, seed=11)),
        empty(root / "broken/empty.jpg"),
    ]
    made.append(truncated(made[0], root / "broken/truncated.jpg"))
    sidecar = root / "2019/IMG_0001.AAE"
    sidecar.write_text('<?xml version="1.0"?><plist version="1.0"><dict/></plist>\n')
    made.append(sidecar)
    return made


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _picture(size: tuple[int, int], seed: int) -> Image.Image:
    """Gradients, shapes and a little sensor-like noise: compresses like a photo."""
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.effect_noise(size, 12 + seed % 5).point(lambda v: v // 2 + 64)
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    step = max(width, height) // 8
    for i in range(6):
        x, y = (seed * 37 + i * step) % width, (seed * 53 + i * step // 2) % height
        draw.ellipse((x, y, x + step, y + step), fill=((seed * 40 + i * 30) % 256, 90, 160))
    # The arrow in the top-left corner shows which way is up once orientation applies.
    draw.polygon([(4, 4), (4 + step // 2, 4), (4, 4 + step // 2)], fill=(255, 255, 0))
    noise = Image.effect_noise(size, 20).convert("RGB")
    return Image.blend(image, noise, 0.08)


def _exif(spec: PhotoSpec) -> Image.Exif:
    exif = Image.Exif()
    stamp = spec.captured.strftime("%Y:%m:%d %H:%M:%S")
    exif[tags.MAKE], exif[tags.MODEL] = spec.make, spec.model
    exif[tags.ORIENTATION] = spec.orientation
    exif[tags.DATETIME] = stamp
    sub = exif.get_ifd(tags.EXIF_IFD)
    sub[tags.DATETIME_ORIGINAL] = sub[tags.DATETIME_DIGITIZED] = stamp
    if spec.offset:
        sub[tags.OFFSET_TIME_ORIGINAL] = sub[tags.OFFSET_TIME] = spec.offset
    if spec.gps:
        gps = exif.get_ifd(tags.GPS_IFD)
        lat, lon, alt = spec.gps
        gps[0] = b"\x02\x02\x00\x00"
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(lat)
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(lon)
        gps[5], gps[6] = (b"\x00" if alt >= 0 else b"\x01"), IFDRational(
            Fraction(abs(alt)).limit_denominator(1000))
    return exif


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction((value - degrees - minutes / 60) * 3600).limit_denominator(10000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds)


def _video_tags(spec: VideoSpec) -> dict[str, str]:
    result = {"creation_time": spec.creation_time.strftime("%Y-%m-%dT%H:%M:%S.000000Z")}
    if spec.location:
        result["location"] = spec.location
        result["com.apple.quicktime.location.ISO6709"] = spec.location
    if spec.local_offset:
        sign = -1 if spec.local_offset.startswith("-") else 1
        hours, minutes = int(spec.local_offset[1:3]), int(spec.local_offset[3:5])
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        local = spec.creation_time.astimezone(zone)
        result["com.apple.quicktime.creationdate"] = local.strftime("%Y-%m-%dT%H:%M:%S%z")
    if spec.content_identifier:
        result["com.apple.quicktime.content.identifier"] = spec.content_identifier
    result["com.apple.quicktime.make"] = "Apple"
    result["com.apple.quicktime.model"] = "iPhone 12"
    return result


def _iso6709(gps: tuple[float, float, float]) -> str:
    lat, lon, alt = gps
    return f"{lat:+08.4f}{lon:+09.4f}{alt:+08.3f}/"


def _run(stream: ffmpeg.nodes.OutputStream) -> None:
    stream.global_args("-nostdin", "-y", "-v", "error").run(capture_stdout=True,
                                                          capture_stderr=True)

