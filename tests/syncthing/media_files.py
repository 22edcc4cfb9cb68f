"""Working copies and their ledger records, as step 1 leaves them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mediasync.model import MediaFile


def downloaded(folder: Path, name: str, data: bytes, source_id: str | None = None) -> MediaFile:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return MediaFile(source="test", source_id=source_id or name, filename=name,
                     size=len(data), content_hash=hashlib.sha256(data).hexdigest(),
                     local_path=str(path), id=abs(hash(source_id or name)) % 10**9)


def sample_bytes(n: int, size: int = 4096) -> bytes:
    """Distinct, incompressible-enough content for file number n."""
    return hashlib.sha256(str(n).encode()).digest() * (size // 32) + os.urandom(16)
