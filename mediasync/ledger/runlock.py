"""One media-sync run at a time per ledger.

A run holds its ledger's lock from before the first step until after the last one; a
second run either ends at once with LedgerBusy or waits up to a given time. The lock
dies with its holder: for SQLite it is an exclusive flock on `<database>.lock`, which
the kernel releases when the process ends, however it ends (SIGKILL included).

A Postgres ledger is locked on its server: a session-level advisory lock held on the run's
own connection, released by Postgres when that session ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from mediasync.errors import LedgerBusy

POLL_SECONDS = 0.2


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LockHolder:
    """Who holds a ledger: written beside the lock so a refused run can say who."""

    run_id: str
    since: str = field(default_factory=_now)
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)


class RunLock(Protocol):
    def try_acquire(self, holder: LockHolder) -> bool:
        """Take the lock without waiting; False when another run holds it."""
        ...

    def holder(self) -> LockHolder | None:
        """Who holds the lock now, when known."""
        ...

    def release(self) -> None: ...


class FileRunLock:
    """An exclusive flock on a file beside an SQLite ledger, with the holder inside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self, holder: LockHolder) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> LockHolder | None:
        try:
            return LockHolder(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):  # not written yet, or by an older version
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the last descriptor drops the flock
        self._fd = None


def acquire(lock: RunLock, holder: LockHolder, wait_seconds: float = 0,
            poll_seconds: float = POLL_SECONDS) -> None:
    """Take the lock, waiting up to `wait_seconds`; LedgerBusy names the holder."""
    deadline = time.monotonic() + wait_seconds
    while not lock.try_acquire(replace(holder, since=_now())):  # held since it got it
        if time.monotonic() >= deadline:
            holder = lock.holder()
            raise LedgerBusy(_busy_message(holder, wait_seconds),
                             held_since=datetime.fromisoformat(holder.since) if holder else None)
        time.sleep(poll_seconds)


def _busy_message(holder: LockHolder | None, waited: float) -> str:
    who = (f"another media-sync run ({holder.run_id}) holds the ledger since {holder.since}"
           if holder else "another media-sync run holds the ledger")
    return f"{who} (waited {waited:g} s)" if waited else who


@contextmanager
def holding(lock: RunLock | None, holder: LockHolder, wait_seconds: float = 0) -> Iterator[None]:
    if lock is None:
        yield
        return
    acquire(lock, holder, wait_seconds)
    try:
        yield
    finally:
        lock.release()
