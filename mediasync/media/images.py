"""Opening and fully decoding still images (Pillow, HEIC/HEIF through pillow-heif)."""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pillow_heif
from PIL import Image, UnidentifiedImageError

from mediasync.errors import MediaError
from mediasync.media.quicktime import heif_turns

pillow_heif.register_heif_opener()
ORIENTATION = 0x0112


@contextmanager
def decoded_image(path: Path, decode: bool = True) -> Iterator[Image.Image]:
    """The image with every pixel decoded (with decode=False: only its header read), or
    MediaError naming the file.

    pillow-heif applies the HEIC rotation itself and resets Orientation to 1, so a HEIC
    comes out as displayed; a JPEG keeps its stored pixels and its Orientation tag, and so
    does a HEIC that has no rotation of its own (see _keep_exif_orientation).
    """
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: empty file", subject=path)
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning would be an error in strict settings; the size
            # check below says the same thing plainly.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            if decode:
                image.load()
            _keep_exif_orientation(image, path)
            yield image
    except UnidentifiedImageError:
        raise MediaError(f"{path.name}: not a readable image", subject=path) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{path.name}: cannot decode image: {exc}", subject=path) from None


def displayed_size(image: Image.Image, orientation: int | None) -> tuple[int, int]:
    """Width and height as a viewer shows them, after the EXIF orientation."""
    width, height = image.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)



def _keep_exif_orientation(image: Image.Image, path: Path) -> None:
    """pillow-heif resets the EXIF Orientation to 1 as if libheif had turned the pixels,
    but libheif only turns them by the file's own `irot`/`imir`. A HEIC with neither and
    an EXIF orientation keeps it: its pixels come unturned, and a viewer turns them."""
    original = image.info.get("original_orientation")
    exif = image.info.get("exif")
    if image.format != "HEIF" or original in (None, 1) or not isinstance(exif, bytes):
        return
    if heif_turns(path) is not False:
        return
    image.info["exif"] = exif_with_orientation(exif, int(original))
    image.getexif()[ORIENTATION] = int(original)


def exif_with_orientation(exif: bytes, orientation: int) -> bytes:
    """The EXIF block with IFD0's Orientation set in place (every other byte as it was:
    re-serialising would move maker notes)."""
    start = 6 if exif.startswith(b"Exif\x00\x00") else 0
    order = "<" if exif[start:start + 2] == b"II" else ">"
    ifd = start + struct.unpack_from(f"{order}I", exif, start + 4)[0]
    for entry in range(struct.unpack_from(f"{order}H", exif, ifd)[0]):
        at = ifd + 2 + 12 * entry
        if struct.unpack_from(f"{order}H", exif, at)[0] == ORIENTATION:
            patched = bytearray(exif)
            struct.pack_into(f"{order}H", patched, at + 8, orientation)
            return bytes(patched)
    return exif
