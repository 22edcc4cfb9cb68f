"""Proof that a compressed copy still looks like its original.

Both are rendered as a viewer shows them (EXIF orientation applied, transparency laid on
white, any bit depth brought to 0..255 in floating point) at one small common size, and
compared by SSIM over 8x8 windows: luma at that size and chroma at half of it, weighted
4:1:1 as ffmpeg's ssim filter weighs Y, U and V. Videos compare a few frames sampled at
the same instants, decoded by ffmpeg as players show them (rotation applied).
The render here works in floating point from each mode's full range on purpose: it
shares no conversion with the encoder, so an encoder that maps 16-bit grey to white
cannot also fool the check.

Pillow's C code does the arithmetic (BOX resize for window means, ImageMath for the
SSIM formula): no per-pixel Python loop, and no numpy dependency.
"""

from __future__ import annotations

import math
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageMath

from mediasync.errors import MediaError
from mediasync.media.images import decoded_image
from mediasync.media.video import ffmpeg_path

RENDER_EDGE = 256  # long edge of the compared render, in pixels
WINDOW = 8  # SSIM window (non-overlapping), in render pixels
VIDEO_SAMPLES = (0.1, 0.5, 0.9)  # where frames are compared, as fractions of the duration
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2  # SSIM's stabilisers for a 0..255 range
# The full scale of each integer mode Pillow decodes into.
_FULL_SCALE = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0,
               "I": 65535.0}

_ORIENTATION = 0x0112
_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
          6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_90}

# Y, Cb and Cr from R, G, B as JPEG makes them (BT.601, full range): weights, offset.
# The offset matters: SSIM's luminance term compares means, and is harsh near zero.
_YCBCR = (((0.299, 0.587, 0.114), 0.0), ((-0.168736, -0.331264, 0.5), 128.0),
          ((0.5, -0.418688, -0.081312), 128.0))

_BAND_WEIGHTS = (4.0, 1.0, 1.0)

Render = list[Image.Image]  # mode "F" bands, 0..255, one (grey) or three (R, G, B)


@dataclass(frozen=True)
class Likeness:
    ssim: float  # 1.0: the same picture; for a video, the worst sampled frame
    psnr: float  # dB, for people who think in it (the mean squared error over all bands)

    def as_dict(self) -> dict[str, float]:
        return {"ssim": round(self.ssim, 4), "psnr": round(self.psnr, 2)}


def render_image(image: Image.Image) -> Render:
    """An opened, decoded image as a viewer shows it, about RENDER_EDGE on its long edge
    (shrunk first, turned after: turning a 12 MP picture costs more than the rest)."""
    orientation = image.getexif().get(_ORIENTATION)
    if image.mode in ("1", "P"):
        # shrinking these picks pixels instead of averaging them (a dithered or
        # palette picture would not look like its own JPEG)
        image = image.convert("RGBA" if "transparency" in image.info else
                              "L" if image.mode == "1" else "RGB")
    factor = math.floor(max(image.size) / RENDER_EDGE)
    small = image if factor < 2 else _shrunk(image, factor)
    if orientation in _TURNS:
        small = small.transpose(_TURNS[orientation])
    return _float_bands(small, image.info)


def _shrunk(image: Image.Image, factor: int) -> Image.Image:
    try:
        return image.reduce(factor)  # an integer box shrink: the cheapest
    except ValueError:  # the 16-bit modes cannot be reduced
        size = (max(1, image.width // factor), max(1, image.height // factor))
        return image.resize(size, Image.Resampling.BOX)


def render_file(path: Path) -> Render:
    """Like render_image, decoding only as much as a small render needs (a JPEG decodes
    at 1/2, 1/4 or 1/8 scale straight from its DCT)."""
    with decoded_image(path, decode=False) as image:
        if image.format == "JPEG":
            image.draft(image.mode, (RENDER_EDGE * 2, RENDER_EDGE * 2))
        image.load()
        return render_image(image)


def compare(original: Render, copy: Render) -> Likeness:
    """SSIM and PSNR of two renders, brought to the original's shape at a size whose
    sides are whole windows, no larger than the copy (a copy shrunk by `max_long_edge`
    is judged at its own size, not blown up). Colour is compared as luma at that size
    and chroma at half of it, as the eye sees (and as JPEG and video keep) colour."""
    width, height = original[0].size
    long_edge = max(width, height)
    factor = min(1.0, RENDER_EDGE / long_edge, max(copy[0].size) / long_edge)
    size = (max(2 * WINDOW, round(width * factor / WINDOW / 2) * WINDOW * 2),
            max(2 * WINDOW, round(height * factor / WINDOW / 2) * WINDOW * 2))
    half = (size[0] // 2, size[1] // 2)
    if len(original) != len(copy):  # grey against colour: compare in colour
        original, copy = _as_colour(original), _as_colour(copy)
    ssims, errors = [], []
    for number, (before, after) in enumerate(zip(_luma_chroma(original),
                                                 _luma_chroma(copy), strict=True)):
        at = size if number == 0 else half
        x = before.resize(at, Image.Resampling.BOX)
        y = after.resize(at, Image.Resampling.BOX)
        ssims.append(_ssim(x, y))
        errors.append(_mean_squared_error(x, y))
    error = sum(errors) / len(errors)
    psnr = 99.0 if error <= 1e-10 else 10 * math.log10(255 ** 2 / error)
    # luma weighs four times each chroma band, as ffmpeg's ssim filter weighs Y, U, V
    weights = _BAND_WEIGHTS[:len(ssims)]
    return Likeness(sum(w * v for w, v in zip(weights, ssims, strict=True)) / sum(weights),
                    psnr)


def _luma_chroma(render: Render) -> Render:
    """Y, Cb, Cr (BT.601, as JPEG) from R, G, B; a grey render is its own luma."""
    if len(render) == 1:
        return render
    r, g, b = render
    return [_weighted(r, g, b, weights, offset) for weights, offset in _YCBCR]


def _weighted(r: Image.Image, g: Image.Image, b: Image.Image,
              weights: tuple[float, float, float], offset: float) -> Image.Image:
    wr, wg, wb = weights
    return ImageMath.lambda_eval(
        lambda a: a["r"] * wr + a["g"] * wg + a["b"] * wb + offset, r=r, g=g, b=b)


def video_likeness(original: Path, copy: Path, duration: float, width: int,
                   height: int) -> Likeness:
    """The worst of the frames sampled at VIDEO_SAMPLES in both videos; `width` and
    `height` are the smaller of the two as displayed."""
    factor = min(1.0, RENDER_EDGE / max(width, height, 1))
    size = (max(WINDOW, round(width * factor / 2) * 2),
            max(WINDOW, round(height * factor / 2) * 2))
    times = [duration * at for at in VIDEO_SAMPLES] if duration > 0 else [0.0]
    before, after = _frames(original, times, size), _frames(copy, times, size)
    if not before:
        raise MediaError(f"{original.name}: no frame to compare at {times}",
                         subject=original)
    if len(after) != len(before):
        return Likeness(0.0, 0.0)  # a frame the original has, the copy does not
    scores = [compare(_float_bands(a), _float_bands(b))
              for a, b in zip(before, after, strict=True)]
    worst = min(scores, key=lambda s: s.ssim)
    return Likeness(worst.ssim, min(s.psnr for s in scores))


def _frames(path: Path, times: list[float], size: tuple[int, int]) -> list[Image.Image]:
    """The frame shown at each of `times`, scaled to `size`: one small ffmpeg per frame,
    run side by side (one run with several seeking inputs costs twice the CPU here)."""
    with ThreadPoolExecutor(max_workers=len(times)) as pool:
        frames = list(pool.map(lambda at: _frame(path, at, size), times))
    return [frame for frame in frames if frame is not None]


def _frame(path: Path, at: float, size: tuple[int, int]) -> Image.Image | None:
    """Seeking before the input is exact (it decodes from the keyframe before `at`)."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{at:.3f}", "-i", ffmpeg_path(path),
         "-map", "0:v:0", "-frames:v", "1", "-vf", f"scale={size[0]}:{size[1]},setsar=1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise MediaError(f"{path.name}: cannot sample frames to compare: "
                         f"{detail[-1] if detail else done.returncode}", subject=path)
    frame = size[0] * size[1] * 3
    if len(done.stdout) < frame:
        return None
    return Image.frombytes("RGB", size, done.stdout[:frame])


def _float_bands(image: Image.Image, info: dict[str, object] | None = None) -> Render:
    """0..255 floating-point bands from any mode, from its full range; `info` is the
    original's (a shrunk copy may not carry the palette's transparency)."""
    mode = image.mode
    info = image.info if info is None else info
    if mode in _FULL_SCALE:
        scale = 255.0 / _FULL_SCALE[mode]
        return [image.convert("I").convert("F").point(lambda v: v * scale)]
    if mode == "F":
        return [image.point(lambda v: v * 255.0)]  # a float image means 0..1
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in info
    if has_alpha:
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A").convert("F")
        return [_on_white(band.convert("F"), alpha) for band in rgba.split()[:3]]
    if mode in ("L", "1"):
        return [image.convert("L").convert("F")]
    return [band.convert("F") for band in image.convert("RGB").split()]


def _on_white(band: Image.Image, alpha: Image.Image) -> Image.Image:
    return ImageMath.lambda_eval(
        lambda a: (a["c"] * a["a"] + 255.0 * (255.0 - a["a"])) / 255.0, c=band, a=alpha)


def _as_colour(render: Render) -> Render:
    return render if len(render) == 3 else render * 3


def _ssim(x: Image.Image, y: Image.Image) -> float:
    small = (x.width // WINDOW, x.height // WINDOW)

    def mean(image: Image.Image) -> Image.Image:
        return image.resize(small, Image.Resampling.BOX)

    xx = mean(ImageMath.lambda_eval(lambda a: a["x"] * a["x"], x=x))
    yy = mean(ImageMath.lambda_eval(lambda a: a["y"] * a["y"], y=y))
    xy = mean(ImageMath.lambda_eval(lambda a: a["x"] * a["y"], x=x, y=y))
    score = ImageMath.lambda_eval(
        lambda a: ((a["mx"] * a["my"] * 2 + _C1) * ((a["xy"] - a["mx"] * a["my"]) * 2 + _C2))
        / ((a["mx"] * a["mx"] + a["my"] * a["my"] + _C1)
           * (a["xx"] - a["mx"] * a["mx"] + a["yy"] - a["my"] * a["my"] + _C2)),
        mx=mean(x), my=mean(y), xx=xx, yy=yy, xy=xy)
    return _mean(score)


def _mean_squared_error(x: Image.Image, y: Image.Image) -> float:
    squared = ImageMath.lambda_eval(lambda a: (a["x"] - a["y"]) * (a["x"] - a["y"]), x=x, y=y)
    return _mean(squared)


def _mean(image: Image.Image) -> float:
    """The exact mean of a float image (ImageStat would bin it into 256 buckets)."""
    value = image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert isinstance(value, float)
    return value
