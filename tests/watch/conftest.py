"""Fixtures for watch, reconcile and doctor: a real SQLite ledger and real folders."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mediasync.files import sha256_file
from mediasync.ledger.sqlite import SqliteLedger

# watchdog (7.1) warns from its inotify thread when a new folder's watch is added twice
# (once by the recursive add, once by the folder's own create event) and then keeps the
# one callback: harmless, but an error under "warnings are errors" kills that thread.
WATCHDOG_DOUBLE_WATCH = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    db = SqliteLedger(tmp_path / "ledger.db")
    yield db
    db.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


class CountingHasher:
    """sha256_file that remembers which files it hashed: the scan's real hashing seam."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def __call__(self, path: Path) -> str:
        self.paths.append(path)
        return sha256_file(path)

    def count(self, path: Path) -> int:
        return sum(1 for p in self.paths if p == path)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Poll until `condition()` is true; a generous bound, not a speed assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path
