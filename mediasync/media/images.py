"""Opening and fully decoding still images (Pillow, HEIC/HEIF through pillow-heif)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pillow_heif
from PIL import Image, UnidentifiedImageError

from mediasync.errors import MediaError

pillow_heif.register_heif_opener()


@contextmanager
def decoded_image(path: Path, decode: bool = True) -> Iterator[Image.Image]:
    """The image with every pixel decoded (with decode=False: only its header read), or
    MediaError naming the file.

    pillow-heif applies the HEIC rotation itself and resets Orientation to 1, so a HEIC
    comes out as displayed; a JPEG keeps its stored pixels and its Orientation tag.
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
            yield image
    except UnidentifiedImageError:
        raise MediaError(f"{path.name}: not a readable image", subject=path) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{path.name}: cannot decode image: {exc}", subject=path) from None


def displayed_size(image: Image.Image, orientation: int | None) -> tuple[int, int]:
    """Width and height as a viewer shows them, after the EXIF orientation."""
    width, height = image.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)

