"""A small, realistic library to show the pipeline on, and a config that points at it."""

from __future__ import annotations

import io
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw
from pillow_heif import from_pillow

DEMO_CONFIG = """\
# Written by `mediasync demo`: a folder source, a local "NAS", an SQLite ledger.
[source]
kind = "folder"
path = "library"

[ledger]
url = "sqlite:///mediasync.db"

[workflow]
incoming = "workflow/incoming"
pixel_sync = "workflow/pixel_sync"
processing = "workflow/processing"
icloud_delete = "workflow/icloud_delete"
nas_archive = "nas_archive"
compressed = "nas_compressed"
cleanup_after_hours = 0
"""

_START = datetime(2024, 6, 1, 9, 30, 0)


def write_jpeg(path: Path, taken: datetime, seed: int, gps: tuple[float, float] | None = None,
               size: tuple[int, int] = (1600, 1200)) -> None:
    image = Image.new("RGB", size, (40 + seed * 23 % 200, 90, 160 - seed * 11 % 120))
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 40):
        draw.line([(i, 0), (size[0] - i, size[1])], fill=(255, 200 - i % 200, i % 255), width=3)
    draw.text((20, 20), f"mediasync demo #{seed} {taken:%Y-%m-%d %H:%M}", fill=(255, 255, 255))
    exif = image.getexif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 15"
    exif.get_ifd(0x8769)[0x9003] = f"{taken:%Y:%m:%d %H:%M:%S}"
    exif.get_ifd(0x8769)[0x9011] = "+02:00"
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: _dms(gps[0]), 3: "E", 4: _dms(gps[1])})
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=97, exif=exif.tobytes())


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return (float(degrees), float(minutes), round(((value - degrees) * 60 - minutes) * 60, 2))


def write_heic(path: Path, taken: datetime) -> None:
    buffer = io.BytesIO()
    write_jpeg_to = path.with_suffix(".tmp.jpg")
    write_jpeg(write_jpeg_to, taken, seed=99, size=(640, 480))
    with Image.open(write_jpeg_to) as image:
        heif = from_pillow(image)
        heif.save(buffer, quality=80, exif=image.info["exif"])
    write_jpeg_to.unlink()
    path.write_bytes(buffer.getvalue())


def write_mp4(path: Path, taken: datetime, seconds: float = 2.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-metadata", f"creation_time={taken:%Y-%m-%dT%H:%M:%S}.000000Z",
         "-movflags", "+faststart", str(path)],
        check=True, capture_output=True,
    )


def make_library(folder: Path) -> dict[str, list[Path]]:
    """Good samples and the bad ones the pipeline must fail alone."""
    good: list[Path] = []
    for i in range(6):
        path = folder / "2024" / f"IMG_{1001 + i}.JPG"
        write_jpeg(path, _START + timedelta(days=i * 9, hours=i), seed=i,
                   gps=(48.8566 + i / 100, 2.3522 + i / 100))
        good.append(path)
    # two different photos that share a name, in different folders
    for album, seed in (("holiday", 40), ("family", 41)):
        path = folder / album / "IMG_2000.JPG"
        write_jpeg(path, _START + timedelta(days=60), seed=seed)
        good.append(path)
    heic = folder / "2024" / "IMG_3000.HEIC"
    write_heic(heic, _START + timedelta(days=70))
    good.append(heic)
    video = folder / "2024" / "VID_4000.MP4"
    write_mp4(video, _START + timedelta(days=80))
    good.append(video)

    empty = folder / "broken" / "IMG_EMPTY.JPG"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_bytes(b"")
    truncated = folder / "broken" / "IMG_TRUNCATED.JPG"
    write_jpeg(truncated, _START, seed=7)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 3])
    return {"good": good, "bad": [empty, truncated]}


def write_demo_config(folder: Path) -> Path:
    config = folder / "mediasync.toml"
    config.write_text(DEMO_CONFIG)
    (folder / "nas_archive").mkdir(parents=True, exist_ok=True)
    return config
