from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mediasync.bucket.path_pattern import PathPattern
from mediasync.errors import ConfigError

DEVICE = "{device}/{YYYY}/{MM}/{DD}/{HH}{mm}{ss}"


@pytest.mark.parametrize(("key", "expected"), [
    ("cam1/2025/12/10/082225.mp4", datetime(2025, 12, 10, 8, 22, 25, tzinfo=UTC)),
    ("argo/cam1/2025/12/10/082225.mp4", datetime(2025, 12, 10, 8, 22, 25, tzinfo=UTC)),
    ("cam1/2025/12/10/082225", datetime(2025, 12, 10, 8, 22, 25, tzinfo=UTC)),
])
def test_device_layout_parses(key: str, expected: datetime) -> None:
    assert PathPattern(DEVICE).time_of(key) == expected


@pytest.mark.parametrize("key", [
    "argo/cam1/2025/12/10/08/photo_20251210T082225Z.jpg",  # the JPG layout
    "cam1/2025/13/10/082225.mp4",  # no 13th month
    "cam1/2025/12/10/ph2225.mp4",
    "README",
    "2025/12/10/082225.mp4",  # no device segment
])
def test_what_does_not_parse_has_no_time(key: str) -> None:
    assert PathPattern(DEVICE).time_of(key) is None


def test_time_zone_is_applied() -> None:
    got = PathPattern("{YYYY}-{MM}-{DD}", "Europe/Paris").time_of("x/2025-07-01.jpg")
    assert got is not None and got.utcoffset() is not None
    assert got.astimezone(UTC) == datetime(2025, 6, 30, 22, 0, tzinfo=UTC)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        PathPattern(DEVICE, "Mars/Olympus")
    with pytest.raises(ConfigError):
        PathPattern("{YYYY}/{YYYY}")
