"""Walking a folder tree and hashing files: the two costs of a scan, kept lean.

The walk yields plain tuples (no object per file) and never recurses; hashing runs on a
few threads (hashlib releases the GIL) with a bounded number of files in flight.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from mediasync.errors import ScanError
from mediasync.files import sha256_file
from mediasync.records.ignore import ignored_name

Hasher = Callable[[Path], str]
FileStat = tuple[str, int, int]  # (path relative to the root, size, mtime_ns)
T = TypeVar("T")


def check_root(root: Path) -> Path:
    """The absolute form of a folder to scan; a clear error when it is not one."""
    resolved = root.expanduser().resolve()
    if not resolved.is_dir():
        raise ScanError(f"not a folder: {root}", subject=root)
    return resolved


def walk_files(root: Path, unreadable: list[str], start: str = "") -> Iterator[FileStat]:
    """Every regular, non-ignored file under `root` (or under its subfolder `start`), as
    (rel_path, size, mtime_ns). Symlinks are not followed. Folders that cannot be read
    are appended to `unreadable` (relative paths) and the walk goes on."""
    base = str(root)
    cut = len(base) + 1
    stack = [os.path.join(base, start) if start else base]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if ignored_name(entry.name):
                        continue
                    if entry.is_file(follow_symlinks=False):
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # removed while we walked
                        yield entry.path[cut:], st.st_size, st.st_mtime_ns
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            if folder == base:
                raise ScanError(f"cannot read folder: {base}", subject=base) from None
            unreadable.append(folder[cut:])


@dataclass
class Hashed(Generic[T]):
    tag: T
    digest: str | None
    error: OSError | None


class HashPool(Generic[T]):
    """Hashes files on `workers` threads; results come back in submission order."""

    def __init__(self, hasher: Hasher = sha256_file, workers: int = 4) -> None:
        self._hasher = hasher
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash")
        self._pending: deque[tuple[T, Future[str]]] = deque()
        self._window = workers * 4

    def submit(self, path: Path, tag: T) -> list[Hashed[T]]:
        """Queue a file; returns the results that had to be collected to stay within the
        window (files in flight), so memory stays bounded whatever the number of files."""
        self._pending.append((tag, self._pool.submit(self._hasher, path)))
        done: list[Hashed[T]] = []
        while len(self._pending) > self._window:
            done.append(self._collect())
        return done

    def drain(self) -> list[Hashed[T]]:
        return [self._collect() for _ in range(len(self._pending))]

    def _collect(self) -> Hashed[T]:
        tag, future = self._pending.popleft()
        try:
            return Hashed(tag, future.result(), None)
        except OSError as exc:
            return Hashed(tag, None, exc)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> HashPool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
