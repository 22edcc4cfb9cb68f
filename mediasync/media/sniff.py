"""Whether a file named as a photo or video can be one, told from its first bytes and its
size on disk before anything is copied.

A sparse file of zeros named `.mov` would otherwise be copied in full (gigabytes of
holes written out) only for step 5 to refuse it. The signatures cover every extension of
media/types.py; a file that matches none is refused only when it is also sparse or larger
than MAX_UNRECOGNISED_BYTES, so that a small oddity still reaches step 5's decoding,
which names what is wrong with it.
"""

from __future__ import annotations

HEAD_BYTES = 512
MAX_UNRECOGNISED_BYTES = 64 * 1024 * 1024
SPARSE_SHARE = 0.5  # blocks on disk below this share of the size: mostly holes

_PREFIXES = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a", b"GIF89a",
    b"II*\x00", b"MM\x00*",  # TIFF, DNG and the TIFF-based raw formats
    b"II+\x00", b"MM\x00+",  # BigTIFF
    b"BM",  # BMP
    b"\x1a\x45\xdf\xa3",  # Matroska, WebM
    b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3",  # MPEG program stream, MPEG video
)
_RIFF_KINDS = (b"WEBP", b"AVI ")
# ISO base media (MP4, MOV, HEIC, 3GP) starts with a box: its size, then its type; older
# QuickTime files may start with another box than ftyp
_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot",
                          b"junk", b"uuid", b"moof", b"styp", b"sidx"})
# MPEG transport stream (.mts): a sync byte every 188 bytes, or every 192 from 4 (M2TS)
_TS_SYNC, _TS_PACKETS = 0x47, ((0, 188), (4, 192))


def is_media_signature(head: bytes) -> bool:
    if head.startswith(_PREFIXES):
        return True
    if head.startswith(b"RIFF") and head[8:12] in _RIFF_KINDS:
        return True
    if head[4:8] in _FIRST_BOXES:
        return True
    return any(len(head) > first + step and head[first] == head[first + step] == _TS_SYNC
               for first, step in _TS_PACKETS)


def cannot_be_media(head: bytes, size: int, blocks: int) -> str | None:
    """Why a file cannot be a photo or video (`blocks`: st_blocks, 512-byte units), or
    None when it may be one and is worth copying."""
    if is_media_signature(head):
        return None
    on_disk = blocks * 512
    if size > 0 and on_disk < size * SPARSE_SHARE:
        return (f"not a photo or video: no media signature, and a sparse file ({size} bytes,"
                f" {on_disk} on disk)")
    if size > MAX_UNRECOGNISED_BYTES:
        return f"not a photo or video: no media signature in a file of {size} bytes"
    return None
