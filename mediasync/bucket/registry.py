"""The local registry a bucket is mirrored into: one file per object, at its key."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from stat import S_ISREG

from mediasync.errors import FileProblem
from mediasync.sources.bucket import BucketObject


def local_path(registry: Path, key: str) -> Path:
    """Where an object lives in the registry; keys that could climb out are refused."""
    parts = key.split("/")
    if any(part in ("", ".", "..") or "\x00" in part for part in parts):
        raise FileProblem(f"{key!r}: object key cannot be a local path", subject=key)
    return registry.joinpath(*parts)


def is_present(registry: Path, obj: BucketObject) -> bool:
    """The object's copy is in the registry, whole (its size as listed) and taken since
    the object was last written: an object overwritten with other bytes of the same size
    has a newer `updated_at` than its copy, whose mtime is set to the `updated_at` it was
    downloaded at (`mark_copied`)."""
    try:
        stat = local_path(registry, obj.key).stat()
    except (FileProblem, OSError):
        return False
    whole = obj.size is None or stat.st_size == obj.size
    current = obj.updated is None or stat.st_mtime_ns >= _ns(obj.updated)
    return S_ISREG(stat.st_mode) and whole and current


def mark_copied(path: Path, obj: BucketObject) -> None:
    """Date the copy of `obj` at `path` with the object's own update time."""
    if obj.updated is not None:
        os.utime(path, ns=(_ns(obj.updated), _ns(obj.updated)))


def _ns(when: datetime) -> int:
    return round(when.timestamp() * 1_000_000) * 1000  # Storage's times are in ms at best


def check_registry(registry: Path, objects: Sequence[BucketObject]) -> list[str]:
    """Every listed object present in the registry with its size; the problems found."""
    problems = []
    for obj in objects:
        try:
            path = local_path(registry, obj.key)
        except FileProblem as exc:
            problems.append(str(exc))
            continue
        if not path.is_file():
            problems.append(f"{obj.key}: missing from the registry")
        elif obj.size is not None and (size := path.stat().st_size) != obj.size:
            problems.append(f"{obj.key}: {size} bytes in the registry, {obj.size} in the bucket")
    return problems


def remove_copies(registry: Path, keys: Iterable[str]) -> int:
    """Delete the local copies of these keys and the folders left empty; returns how many."""
    removed = 0
    for key in keys:
        path = local_path(registry, key)
        if path.is_file():
            path.unlink()
            removed += 1
        _prune(registry, path.parent)
    return removed


def _prune(registry: Path, folder: Path) -> None:
    while folder != registry and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
