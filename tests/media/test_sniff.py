"""Every photo and video format mediasync imports is recognised by its first bytes, and
what cannot be media is told apart (media/sniff.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from mediasync.media.samples import PhotoSpec, photo
from mediasync.media.sniff import HEAD_BYTES, cannot_be_media, is_media_signature
from mediasync.media.types import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from mediasync.media.video import ffmpeg_path

# dng is a TIFF: Pillow writes it as one, which is what its first bytes are
PILLOW = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "tif": "TIFF",
          "tiff": "TIFF", "dng": "TIFF", "webp": "WEBP", "bmp": "BMP"}


@pytest.mark.parametrize("ext", sorted(IMAGE_EXTENSIONS))
def test_every_image_format_has_a_signature(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"sample.{ext}"
    if ext in ("heic", "heif"):
        photo(path, PhotoSpec(size=(64, 48)))
    else:
        Image.new("RGB", (64, 48), (200, 30, 30)).save(path, PILLOW[ext])
    assert is_media_signature(path.read_bytes()[:HEAD_BYTES])


@pytest.mark.parametrize("ext", sorted(VIDEO_EXTENSIONS))
def test_every_video_format_has_a_signature(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"sample.{ext}"
    codec = ["-c:v", "libvpx"] if ext == "webm" else ["-c:v", "mpeg4"]
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x48:rate=5:duration=1", *codec, "-y",
                    ffmpeg_path(path)], check=True)
    assert is_media_signature(path.read_bytes()[:HEAD_BYTES])


def test_text_and_zeros_have_none() -> None:
    assert not is_media_signature(b"this is text, not a photo")
    assert not is_media_signature(b"Good morning" + b" " * 400)  # a G, as TS would start
    assert not is_media_signature(bytes(HEAD_BYTES))


def test_only_sparse_or_huge_unrecognised_files_are_refused() -> None:
    zeros = bytes(HEAD_BYTES)
    assert "sparse" in (cannot_be_media(zeros, 4 << 30, blocks=8) or "")
    assert "no media signature" in (cannot_be_media(zeros, 100 << 20, blocks=200 << 11) or "")
    assert cannot_be_media(zeros, 400, blocks=8) is None  # small: step 5 says what it is
    assert cannot_be_media(b"\xff\xd8\xff" + zeros, 4 << 30, blocks=8) is None
