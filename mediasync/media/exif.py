"""Reading the facts that make a photo someone's own out of its EXIF block."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import Image

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
MAKE, MODEL, ORIENTATION, DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x9003, 0x9004
OFFSET_TIME, OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 0x9010, 0x9011, 0x9012
# (time tag, offset tag, which IFD), most trustworthy first
_CAPTURE_TAGS = (
    (DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL, EXIF_IFD),
    (DATETIME_DIGITIZED, OFFSET_TIME_DIGITIZED, EXIF_IFD),
    (DATETIME, OFFSET_TIME, None),
)


@dataclass(frozen=True)
class GPS:
    latitude: float
    longitude: float
    altitude: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"latitude": self.latitude, "longitude": self.longitude,
                "altitude": self.altitude}


@dataclass(frozen=True)
class ExifFacts:
    captured_at: datetime | None = None  # aware when the offset is recorded
    captured_offset: str | None = None
    gps: GPS | None = None
    make: str | None = None
    model: str | None = None
    orientation: int | None = None


def read_exif(exif: Image.Exif) -> ExifFacts:
    captured_at, offset = capture_time(exif)
    return ExifFacts(
        captured_at=captured_at,
        captured_offset=offset,
        gps=gps_position(exif.get_ifd(GPS_IFD)),
        make=_text(exif.get(MAKE)),
        model=_text(exif.get(MODEL)),
        orientation=_int(exif.get(ORIENTATION)),
    )


def capture_time(exif: Image.Exif) -> tuple[datetime | None, str | None]:
    sub = exif.get_ifd(EXIF_IFD)
    for time_tag, offset_tag, ifd in _CAPTURE_TAGS:
        tags = sub if ifd == EXIF_IFD else exif
        stamp = parse_exif_time(_text(tags.get(time_tag)))
        if stamp is None:
            continue
        offset = _text(sub.get(offset_tag))
        zone = parse_offset(offset)
        return (stamp.replace(tzinfo=zone) if zone else stamp), (offset if zone else None)
    return None, None


def parse_exif_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text.strip()[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:  # "0000:00:00 00:00:00" and other blanks cameras write
        return None


def parse_offset(text: str | None) -> timezone | None:
    if not text or len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def gps_position(gps: dict[int, Any]) -> GPS | None:
    try:
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lon = _degrees(gps[4], gps.get(3, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    altitude = None
    if 6 in gps:
        below_sea = gps.get(5) in (1, b"\x01")
        altitude = round(-float(gps[6]) if below_sea else float(gps[6]), 3)
    return GPS(lat, lon, altitude)


def _degrees(dms: Any, ref: Any, negative_ref: str) -> float:
    d, m, s = (float(x) for x in dms)
    value = d + m / 60 + s / 3600
    return round(-value if _text(ref) == negative_ref else value, 7)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None:
        return None
    text = str(value).strip("\x00 ").strip()
    return text or None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
