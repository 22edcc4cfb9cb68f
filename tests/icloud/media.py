"""A small iCloud library of real, decodable media for runs through the whole pipeline:
JPEG photos with EXIF capture dates, live photos (JPEG + MOV) and a video."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path

from PIL import Image

from tests.fakes.icloud_server import FakePhoto

TAKEN = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def jpeg(seed: int, when: dt.datetime) -> bytes:
    image = Image.new("RGB", (64, 48), ((seed * 40) % 256, (seed * 90) % 256, 120))
    exif = Image.Exif()
    exif[0x0132] = when.strftime("%Y:%m:%d %H:%M:%S")
    exif.get_ifd(0x8769)[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def mov(seed: int, when: dt.datetime, folder: Path) -> bytes:
    target = folder / f"clip{seed}.mov"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"color=c=0x{seed * 40 % 256:02x}2080:s=32x32:d=0.2:r=10", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", "-metadata",
         f"creation_time={when.strftime('%Y-%m-%dT%H:%M:%SZ')}", str(target)],
        check=True)
    return target.read_bytes()


def real_library(folder: Path, photos: int = 6) -> list[FakePhoto]:
    """`photos` JPEGs (the first a favourite), two live photos and one video, a day apart,
    newest first."""
    library: list[FakePhoto] = []
    for i in range(photos):
        when = TAKEN - dt.timedelta(days=i)
        library.append(FakePhoto(f"P{i:03d}", f"IMG_{i:04d}.JPG", jpeg(i, when), when,
                                 "public.jpeg", favorite=i == 0))
    for i in range(2):
        when = TAKEN - dt.timedelta(days=photos + i)
        library.append(FakePhoto(f"L{i:03d}", f"IMG_{100 + i}.JPG", jpeg(50 + i, when), when,
                                 "public.jpeg", live_video=mov(i, when, folder)))
    when = TAKEN - dt.timedelta(days=photos + 2)
    library.append(FakePhoto("V000", "IMG_0200.MOV", mov(9, when, folder), when,
                             "com.apple.quicktime-movie"))
    return library
