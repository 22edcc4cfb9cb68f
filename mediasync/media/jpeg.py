"""The `jpeg` strategy: re-encode a still image as JPEG with Pillow, keeping its EXIF
(as bytes: an `Image.Exif` object would lose the orientation), ICC profile and XMP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from mediasync.media.images import decoded_image
from mediasync.settings import CompressionRule

DEFAULT_QUALITY = 85
_JPEG_MODES = ("RGB", "L", "CMYK")


def encode_jpeg(source: Path, target: Path, rule: CompressionRule) -> dict[str, Any]:
    """Write `target`; the stored pixels keep their orientation and the EXIF keeps the
    Orientation tag, so viewers turn the copy as they turned the original. (pillow-heif
    hands HEIC pixels already turned, with Orientation reset to 1.)"""
    quality = rule.quality or DEFAULT_QUALITY
    with decoded_image(source) as image:
        picture = _jpeg_ready(image)
        if rule.max_long_edge and max(picture.size) > rule.max_long_edge:
            picture.thumbnail((rule.max_long_edge, rule.max_long_edge),
                              Image.Resampling.LANCZOS)
        options: dict[str, Any] = {"quality": quality, "optimize": True}
        for key in ("exif", "icc_profile", "xmp"):
            if image.info.get(key):
                options[key] = image.info[key]
        with open(target, "wb") as handle:
            picture.save(handle, "JPEG", **options)
    return {"quality": quality, "max_long_edge": rule.max_long_edge,
            "width": picture.width, "height": picture.height}


def _jpeg_ready(image: Image.Image) -> Image.Image:
    if image.mode in _JPEG_MODES:
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # JPEG has no alpha: lay the picture on white, as a viewer shows it on a page.
        rgba = image.convert("RGBA")
        page = Image.new("RGB", rgba.size, (255, 255, 255))
        page.paste(rgba, mask=rgba.getchannel("A"))
        return page
    return image.convert("RGB")
