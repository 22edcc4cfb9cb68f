"""QuickTime's user-data location, the `©xyz` box in `moov/udta`, kept as it was.

ffmpeg 5.1 reads `©xyz` but never writes it back into an MP4: the position moves to a
`location` key and a 3GPP `loci` box, and players and libraries that read `©xyz` lose
it. This reads the original's box and writes the same bytes into the copy's `moov`.
When `moov` sits before the media data (`+faststart`), growing it moves the media, so
every chunk offset (`stco`/`co64`) is shifted by as much. The copy is checked after
this, like any copy: a mistake here is a copy that is discarded, never a lost original.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

from mediasync.files import partial_path

_XYZ = b"\xa9xyz"
_MAX_MOOV = 64 * 1024 * 1024
_CHUNK_OFFSETS = {b"stco": ">I", b"co64": ">Q"}
_PATH_TO_OFFSETS = (b"trak", b"mdia", b"minf", b"stbl")

Box = tuple[bytes, int, int, int]  # type, start, body start, end


def read_xyz(path: Path) -> bytes | None:
    """The whole `©xyz` box of the file's `moov/udta`, or None."""
    found = _moov(path)
    if found is None:
        return None
    moov, _, _ = found
    for kind, _, body, end in _children(moov, 8, len(moov)):
        if kind == b"udta":
            for inner, start, _, stop in _children(moov, body, end):
                if inner == _XYZ:
                    return bytes(moov[start:stop])
    return None


def write_xyz(path: Path, box: bytes) -> bool:
    """Put `box` (a `©xyz` box) into the file's `moov/udta`, rewriting the file beside
    itself and renaming it over; False, the file untouched, for a layout this does not
    edit (a 64-bit box size, an offset past 4 GiB in `stco`)."""
    found = _moov(path)
    if found is None or read_xyz(path) is not None:
        return found is not None
    moov, start, media_after = found
    grown = _with_box(moov, box)
    if grown is None or (media_after and not _shift_offsets(grown, len(grown) - len(moov))):
        return False
    temp = partial_path(path)
    try:
        with open(path, "rb") as source, open(temp, "wb") as target:
            target.write(source.read(start))
            target.write(grown)
            source.seek(start + len(moov))
            while chunk := source.read(1 << 22):
                target.write(chunk)
            target.flush()
            os.fsync(target.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return True


def _moov(path: Path) -> tuple[bytearray, int, bool] | None:
    """The whole `moov` box, where it starts, and whether media data follows it."""
    with open(path, "rb") as handle:
        size_of_file = handle.seek(0, 2)
        moov_at: tuple[int, int] | None = None
        media_after = False
        position = 0
        while position + 8 <= size_of_file:
            handle.seek(position)
            size, kind = struct.unpack(">I4s", handle.read(8))
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0]
            elif size == 0:
                size = size_of_file - position
            if size < 8:
                return None
            if kind == b"moov":
                moov_at = (position, size)
            elif kind == b"mdat" and moov_at is not None:
                media_after = True
            position += size
        if moov_at is None or moov_at[1] > _MAX_MOOV:
            return None
        handle.seek(moov_at[0])
        moov = bytearray(handle.read(moov_at[1]))
    if struct.unpack_from(">I", moov, 0)[0] == 1:  # a 64-bit moov size: leave it be
        return None
    return moov, moov_at[0], media_after


def _children(data: bytearray, start: int, end: int) -> Iterator[Box]:
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, position + 8)[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            return
        yield kind, position, position + header, position + size
        position += size


def _with_box(moov: bytearray, box: bytes) -> bytearray | None:
    """`moov` with `box` at the end of its `udta` (made when missing), sizes updated."""
    for kind, start, body, end in _children(moov, 8, len(moov)):
        if kind == b"udta":
            if body - start != 8:
                return None
            grown = moov[:end] + box + moov[end:]
            _add_to_size(grown, start, len(box))
            break
    else:
        grown = moov + struct.pack(">I4s", 8 + len(box), b"udta") + box
    _add_to_size(grown, 0, len(grown) - len(moov))
    return grown


def _add_to_size(data: bytearray, at: int, delta: int) -> None:
    struct.pack_into(">I", data, at, struct.unpack_from(">I", data, at)[0] + delta)


def _shift_offsets(moov: bytearray, delta: int) -> bool:
    """Every chunk offset in every track moved by `delta`; False if one no longer fits."""
    for table, body, end in _offset_tables(moov, 8, len(moov), 0):
        fmt = _CHUNK_OFFSETS[table]
        width = struct.calcsize(fmt)
        count = struct.unpack_from(">I", moov, body + 4)[0]
        if body + 8 + count * width > end:
            return False
        for at in range(body + 8, body + 8 + count * width, width):
            moved = struct.unpack_from(fmt, moov, at)[0] + delta
            if moved >= 1 << (8 * width):
                return False
            struct.pack_into(fmt, moov, at, moved)
    return True


def _offset_tables(moov: bytearray, start: int, end: int,
                   depth: int) -> Iterator[tuple[bytes, int, int]]:
    for kind, _, body, stop in _children(moov, start, end):
        if depth < len(_PATH_TO_OFFSETS) and kind == _PATH_TO_OFFSETS[depth]:
            yield from _offset_tables(moov, body, stop, depth + 1)
        elif depth == len(_PATH_TO_OFFSETS) and kind in _CHUNK_OFFSETS:
            yield kind, body, stop
