"""The date tags of an MP4 or QuickTime file, read from its `moov` box in Python (and
whether a HEIF file turns its picture by its own boxes).

Step 1 needs only a video's capture time (the archive is laid out by it), and starting
ffprobe costs about 80 ms here, more than copying a phone clip. This reads the two tags
`video_capture_time` uses, as ffprobe names them: `creation_time` from `mvhd` and
`com.apple.quicktime.creationdate` from the `mdta` keys. Anything it cannot read comes
back as None, and the caller asks ffprobe; step 5 reads every tag with ffprobe anyway.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

_MAX_MOOV = 64 * 1024 * 1024  # a moov this large is not a phone's: let ffprobe read it
_SECONDS_1904_TO_1970 = 2082844800
_CREATION_DATE_KEY = b"com.apple.quicktime.creationdate"


def date_tags(path: Path) -> dict[str, str] | None:
    """{"creation_time": ..., "com.apple.quicktime.creationdate": ...} (either may be
    missing), or None when the file is not an ISO/QuickTime file this can read."""
    try:
        with open(path, "rb") as handle:
            moov = _top_box(handle, b"moov")
    except OSError:
        return None
    if moov is None:
        return None
    try:
        return _tags(moov)
    except (struct.error, ValueError, OverflowError, OSError):  # OSError: a time_t too far
        return None


def heif_turns(path: Path) -> bool | None:
    """Whether a HEIF file (HEIC) turns or mirrors its picture by its own boxes (`irot`,
    `imir` among the item properties); None when it cannot be read as HEIF."""
    try:
        with open(path, "rb") as handle:
            meta = _top_box(handle, b"meta")
        if meta is None:
            return None
        properties = _boxes(_boxes(_boxes(meta[4:]).get(b"iprp", b"")).get(b"ipco", b""))
    except (OSError, struct.error):
        return None
    return b"irot" in properties or b"imir" in properties


def _top_box(handle: BinaryIO, wanted: bytes) -> bytes | None:
    """The body of the first top-level box of type `wanted`, seeking past `mdat` and
    the rest."""
    position = 0
    while True:
        handle.seek(position)
        header = handle.read(16)
        if len(header) < 8:
            return None
        size, kind = struct.unpack(">I4s", header[:8])
        body_at = position + 8
        if size == 1:
            if len(header) < 16:
                return None
            size = struct.unpack(">Q", header[8:16])[0]
            body_at += 8
        elif size == 0:  # runs to the end of the file
            size = handle.seek(0, 2) - position
        if size < body_at - position:
            return None
        if kind == wanted:
            length = size - (body_at - position)
            if length > _MAX_MOOV:
                return None
            handle.seek(body_at)
            body = handle.read(length)
            return body if len(body) == length else None
        position += size


def _boxes(data: bytes) -> dict[bytes, bytes]:
    """The first box of each type directly inside `data`."""
    found: dict[bytes, bytes] = {}
    position = 0
    while position + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            size = struct.unpack_from(">Q", data, position + 8)[0]
            header = 16
        elif size == 0:
            size = len(data) - position
        if size < header or position + size > len(data):
            break
        found.setdefault(kind, data[position + header:position + size])
        position += size
    return found


def _tags(moov: bytes) -> dict[str, str]:
    boxes = _boxes(moov)
    tags: dict[str, str] = {}
    if b"mvhd" in boxes and (created := _mvhd_time(boxes[b"mvhd"])) is not None:
        tags["creation_time"] = created
    for meta in (boxes.get(b"meta"), _boxes(boxes.get(b"udta", b"")).get(b"meta")):
        if meta is not None and (local := _creation_date(meta)) is not None:
            tags[_CREATION_DATE_KEY.decode()] = local
            break
    return tags


def _mvhd_time(mvhd: bytes) -> str | None:
    """As ffmpeg writes it: seconds since 1904 (a value below that offset is taken as
    Unix time already, as ffmpeg does), 0 meaning none."""
    version = mvhd[0]
    seconds = struct.unpack_from(">Q" if version == 1 else ">I", mvhd, 4)[0]
    if seconds == 0:
        return None
    if seconds >= _SECONDS_1904_TO_1970:
        seconds -= _SECONDS_1904_TO_1970
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _creation_date(meta: bytes) -> str | None:
    """QuickTime's `meta` holds `hdlr`, `keys` and `ilst` directly; ISO's has a version
    and flags word first."""
    if meta[4:8] != b"hdlr":
        meta = meta[4:]
    boxes = _boxes(meta)
    keys, items = boxes.get(b"keys"), boxes.get(b"ilst")
    if keys is None or items is None:
        return None
    index = _key_index(keys, _CREATION_DATE_KEY)
    if index is None:
        return None
    item = _boxes(items).get(struct.pack(">I", index))
    data = _boxes(item).get(b"data") if item is not None else None
    if data is None or len(data) < 8 or struct.unpack_from(">I", data, 0)[0] != 1:
        return None  # not UTF-8 text
    return data[8:].decode("utf-8", "replace")


def _key_index(keys: bytes, wanted: bytes) -> int | None:
    count = struct.unpack_from(">I", keys, 4)[0]
    position = 8
    for index in range(1, count + 1):
        if position + 8 > len(keys):
            return None
        size, namespace = struct.unpack_from(">I4s", keys, position)
        if size < 8:
            return None
        if namespace == b"mdta" and keys[position + 8:position + size] == wanted:
            return index
        position += size
    return None
