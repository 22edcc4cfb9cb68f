"""The `jpeg` strategy: re-encode a still image as JPEG with Pillow, keeping its EXIF
(as bytes: an `Image.Exif` object would lose the orientation), ICC profile, XMP and IPTC.

Every pixel format Pillow decodes is mapped to one JPEG holds, as a viewer shows it:
16-bit grey is scaled to 8 bits (not clipped, which turns a scan white), palettes become
RGB, transparency is laid on white, CMYK stays CMYK with its profile. What JPEG cannot
hold faithfully (floating-point or 32-bit pixels, HDR transfer curves) is refused."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from mediasync.media.images import decoded_image
from mediasync.media.likeness import Render, render_image
from mediasync.media.refusal import Unsuitable
from mediasync.settings import CompressionRule

DEFAULT_QUALITY = 85
_JPEG_MODES = ("RGB", "L", "CMYK")
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
# nclx transfer characteristics (ITU-T H.273) of HDR pictures: PQ and HLG
_HDR_TRANSFERS = {16: "PQ (HDR10)", 18: "HLG"}
_IPTC_SIGNATURE = b"Photoshop 3.0\x00"  # what an APP13 segment holding IPTC starts with


@dataclass(frozen=True)
class JpegCopy:
    parameters: dict[str, Any]  # -> compression_metadata.parameters
    reference: Render  # the original as a viewer shows it, for the likeness proof


def encode_jpeg(source: Path, target: Path, rule: CompressionRule) -> JpegCopy:
    """Write `target`; the stored pixels keep their orientation and the EXIF keeps the
    Orientation tag, so viewers turn the copy as they turned the original. (pillow-heif
    hands HEIC pixels already turned, with Orientation reset to 1.)"""
    quality = rule.quality or DEFAULT_QUALITY
    with decoded_image(source) as image:
        picture = jpeg_ready(image)
        if rule.max_long_edge and max(picture.size) > rule.max_long_edge:
            picture.thumbnail((rule.max_long_edge, rule.max_long_edge),
                              Image.Resampling.LANCZOS)
        options: dict[str, Any] = {"quality": quality, "optimize": True}
        for key in ("exif", "icc_profile", "xmp"):
            if image.info.get(key):
                options[key] = image.info[key]
        encoded = io.BytesIO()
        picture.save(encoded, "JPEG", **options)
        data = with_segments(encoded.getvalue(), iptc_segments(image))
        reference = render_image(image)
    with open(target, "wb") as handle:
        handle.write(data)
    return JpegCopy({"quality": quality, "max_long_edge": rule.max_long_edge,
                     "width": picture.width, "height": picture.height,
                     "mode": f"{image.mode} -> {picture.mode}"}, reference)


def jpeg_ready(image: Image.Image) -> Image.Image:
    """The image in a mode JPEG holds, looking as it did; Unsuitable when none can."""
    _refuse_hdr(image)
    if image.mode in _JPEG_MODES:
        return image
    if image.mode in _SIXTEEN_BIT:
        # Pillow's own conversion clips at 255 (a 16-bit scan turns white): scale instead.
        return image.convert("I").point(lambda v: v / 257).convert("L")
    if image.mode in ("I", "F"):
        raise Unsuitable(f"{'32-bit integer' if image.mode == 'I' else 'floating-point'}"
                         f" pixels have no known range to map to JPEG's 8 bits")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # JPEG has no alpha: lay the picture on white, as a viewer shows it on a page.
        rgba = image.convert("RGBA")
        page = Image.new("RGB", rgba.size, (255, 255, 255))
        page.paste(rgba, mask=rgba.getchannel("A"))
        return page
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def _refuse_hdr(image: Image.Image) -> None:
    nclx = image.info.get("nclx_profile")  # pillow-heif: the HEIF colour description
    transfer = nclx.get("transfer_characteristics") if isinstance(nclx, dict) else None
    if transfer in _HDR_TRANSFERS:
        raise Unsuitable(f"an HDR picture ({_HDR_TRANSFERS[transfer]}) would lose its "
                         f"range and colours as an 8-bit JPEG")


def iptc_segments(image: Image.Image) -> list[bytes]:
    """The original's APP13 segments that hold IPTC (caption, keywords, by-line...):
    Pillow reads them but never writes them."""
    applist = getattr(image, "applist", [])
    return [body for marker, body in applist
            if marker == "APP13" and body.startswith(_IPTC_SIGNATURE)]


def with_segments(jpeg: bytes, app13: list[bytes]) -> bytes:
    """`jpeg` with the APP13 segments inserted after its leading APPn segments (JFIF,
    EXIF, ICC, XMP), where readers look for them."""
    if not app13:
        return jpeg
    position = 2  # after SOI
    while jpeg[position] == 0xFF and 0xE0 <= jpeg[position + 1] <= 0xEF:
        position += 2 + struct.unpack_from(">H", jpeg, position + 2)[0]
    inserted = b"".join(b"\xff\xed" + struct.pack(">H", len(body) + 2) + body
                        for body in app13)
    return jpeg[:position] + inserted + jpeg[position:]
