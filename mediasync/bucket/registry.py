"""The local registry a bucket is mirrored into: one file per object, at its key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from mediasync.errors import FileProblem
from mediasync.sources.bucket import BucketObject


def local_path(registry: Path, key: str) -> Path:
    """Where an object lives in the registry; keys that could climb out are refused."""
    parts = key.split("/")
    if any(part in ("", ".", "..") or "\x00" in part for part in parts):
        raise FileProblem(f"{key!r}: object key cannot be a local path", subject=key)
    return registry.joinpath(*parts)


def is_present(registry: Path, obj: BucketObject) -> bool:
    """The object's copy is in the registry, whole (its size as listed)."""
    try:
        path = local_path(registry, obj.key)
        return path.is_file() and (obj.size is None or path.stat().st_size == obj.size)
    except FileProblem:
        return False


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
