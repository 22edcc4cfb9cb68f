"""Small distinct photos for a folder source."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image


def photos(folder: Path, count: int) -> None:
    rng = random.Random(4)
    for n in range(count):
        pixels = bytes(rng.getrandbits(8) for _ in range(32 * 32 * 3))
        Image.frombytes("RGB", (32, 32), pixels).save(folder / f"IMG_{n:04d}.jpg")
