"""Media made once per session by mediasync.media.samples: good files of every kind the
pipeline meets, and the broken ones a real library holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mediasync.media import samples
from mediasync.media.samples import PhotoSpec, VideoSpec
from mediasync.settings import CompressionRule, CompressionSettings


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    made = {
        "jpeg": samples.photo(root / "IMG_0001.JPG", PhotoSpec(orientation=6)),
        "heic": samples.photo(root / "IMG_0002.HEIC", PhotoSpec(
            captured=datetime(2022, 5, 1, 11, 0, 0), offset="+09:00", gps=samples.KYOTO,
            orientation=6)),
        "png": samples.photo(root / "Screenshot 1.png", PhotoSpec(gps=None, offset=None)),
        "mp4": samples.video(root / "VID_0003.MP4", VideoSpec(rotation=90)),
        "mov": samples.video(root / "VID_0004.MOV", VideoSpec(
            rotation=270, local_offset="-0500", location="+40.6892-074.0445+010.000/",
            creation_time=datetime(2021, 10, 31, 22, 5, 0, tzinfo=UTC))),
        "empty": samples.empty(root / "empty.jpg"),
        "text": samples.text_file(root / "notes.jpg"),
        "sidecar": samples.text_file(root / "IMG_0002.AAE"),
        "unknown": samples.text_file(root / "readme.txt"),
    }
    made["live_heic"], made["live_mov"] = samples.live_photo(
        root / "live", "IMG_0005", datetime(2023, 4, 2, 14, 3, 9))
    made["truncated_jpeg"] = samples.truncated(made["jpeg"], root / "broken.jpg")
    made["truncated_mp4"] = samples.truncated(made["mp4"], root / "broken.mp4", keep=0.6)
    return made


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo library, made once; step tests copy it into their own folder."""
    root = tmp_path_factory.mktemp("library")
    samples.demo_library(root)
    return root


@pytest.fixture
def settings() -> CompressionSettings:
    """Every strategy on, fast encoder presets so the suite stays quick."""
    return CompressionSettings(min_saving=0.05, rules=[
        CompressionRule(media_type="image", formats=["jpg", "jpeg", "png", "heic"],
                        strategy="jpeg", quality=80),
        CompressionRule(media_type="video", formats=["mp4"], strategy="hevc", crf=30,
                        preset="ultrafast"),
        CompressionRule(media_type="video", strategy="h264", crf=30, preset="ultrafast"),
    ])
