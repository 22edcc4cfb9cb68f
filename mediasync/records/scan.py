"""Reconciliation: bring `file_records` of one folder tree in line with the disk.

One pass: fetch (size, mtime_ns) of every record once, walk the tree, skip files whose
size and mtime are unchanged (their records are only stamped with this pass's
generation), hash new and changed files on a few threads, upsert them in batches, then
drop the records this generation did not see: files removed behind our back. Every pass
is a `sync_operations` row; its id is the scan generation (unique and increasing).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mediasync.files import sha256_file
from mediasync.ledger.base import FileRecord, Ledger
from mediasync.model import SyncOperation
from mediasync.records.walk import Hashed, Hasher, HashPool, check_root, walk_files
from mediasync.settings import Settings

MAX_PROBLEMS = 20  # kept in the operation's detail; the count has them all
Signature = tuple[int, int]  # (size, mtime_ns)
Pending = tuple[str, int, int, bool]  # (rel_path, size, mtime_ns, had a record)


@dataclass
class ScanOptions:
    workers: int = 4
    batch_size: int = 1000  # new or changed records per write
    # unchanged records stamped per write: only their paths travel, and every write is a
    # commit (an fsync), so these batches are large
    stamp_batch_size: int = 20_000
    hasher: Hasher = sha256_file

    @classmethod
    def from_settings(cls, settings: Settings) -> ScanOptions:
        return cls(workers=settings.watch.hash_workers, batch_size=settings.watch.batch_size)


@dataclass
class ScanStats:
    root: str
    operation_type: str
    operation_id: int | None = None
    scanned: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    failed: int = 0
    hashed_bytes: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        self.failed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    @property
    def files_per_second(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "files_per_second": round(self.files_per_second, 1)}


def reconcile(ledger: Ledger, root: Path, *, operation_type: str = "reconciliation",
              options: ScanOptions | None = None, run_id: str | None = None,
              index: dict[str, Signature] | None = None) -> ScanStats:
    """Reconcile `root` with its records and record the pass in `sync_operations`.
    `index`, when given, is filled with the signature of every file found (the watcher
    keeps it). Raises ScanError when `root` is not a readable folder."""
    folder = check_root(root)
    stats = ScanStats(root=str(folder), operation_type=operation_type)
    op = SyncOperation(operation_type=operation_type, status="running", run_id=run_id)
    stats.operation_id = ledger.start_operation(op)
    started = time.monotonic()
    try:
        _Pass(ledger, folder, stats.operation_id, options or ScanOptions(), stats, index).run()
    except BaseException as exc:  # Ctrl-C too: the row must not stay "running"
        finish_operation(ledger, op, stats, started, error=str(exc) or type(exc).__name__)
        raise
    finish_operation(ledger, op, stats, started)
    return stats


def finish_operation(ledger: Ledger, op: SyncOperation, stats: ScanStats, started: float,
                     error: str | None = None) -> None:
    stats.seconds = time.monotonic() - started
    op.status = "failed" if error else "completed"
    op.error = error
    op.files_scanned, op.files_added = stats.scanned, stats.added
    op.files_updated, op.files_removed, op.files_failed = (
        stats.updated, stats.removed, stats.failed)
    op.detail = {"root": stats.root, "duration_ms": round(stats.seconds * 1000),
                 "hashed_bytes": stats.hashed_bytes, "problems": stats.problems}
    ledger.finish_operation(op)


class _Pass:
    def __init__(self, ledger: Ledger, folder: Path, generation: int, options: ScanOptions,
                 stats: ScanStats, index: dict[str, Signature] | None) -> None:
        self.ledger, self.folder, self.generation = ledger, folder, generation
        self.options, self.stats, self.index = options, stats, index
        self.root = str(folder)
        self.seen: list[str] = []  # unchanged, waiting to be stamped with the generation
        self.changed: list[FileRecord] = []  # hashed, waiting to be upserted

    def run(self) -> None:
        known = self.ledger.file_signatures(self.root)
        unreadable: list[str] = []
        # the loop runs once per file: locals, no method call for an unchanged file
        seen, index, stamp_every, scanned = (self.seen, self.index,
                                             self.options.stamp_batch_size, 0)
        with (HashPool[Pending](self.options.hasher, self.options.workers) as pool,
              BackgroundWriter() as self.writer):
            for rel, size, mtime in walk_files(self.folder, unreadable):
                scanned += 1
                before = known.pop(rel, None)
                if before == (size, mtime):
                    seen.append(rel)
                    if index is not None:
                        index[rel] = before
                    if len(seen) >= stamp_every:
                        self._flush_seen()
                else:
                    tag = (rel, size, mtime, before is not None)
                    self._take(pool.submit(self.folder / rel, tag))
            self.stats.scanned += scanned
            self._take(pool.drain())
            self._keep_unreadable(known, unreadable)
            self._flush()
        self.stats.removed = self.ledger.delete_stale_file_records(self.root, self.generation)

    def _seen(self, rel: str, signature: Signature | None) -> None:
        self.seen.append(rel)
        if self.index is not None and signature is not None:
            self.index[rel] = signature
        if len(self.seen) >= self.options.stamp_batch_size:
            self._flush_seen()

    def _take(self, results: list[Hashed[Pending]]) -> None:
        for result in results:
            rel, size, mtime, existed = result.tag
            if result.error is not None:
                self._hash_failed(rel, result.error, existed)
                continue
            self.changed.append(FileRecord(self.root, rel, size, mtime, result.digest,
                                           self.generation))
            self.stats.hashed_bytes += size
            if existed:
                self.stats.updated += 1
            else:
                self.stats.added += 1
            if self.index is not None:
                # the signature is from before hashing: a write during the hash makes the
                # next pass see a different mtime and hash again
                self.index[rel] = (size, mtime)
            if len(self.changed) >= self.options.batch_size:
                self._flush_changed()

    def _hash_failed(self, rel: str, error: OSError, existed: bool) -> None:
        if isinstance(error, FileNotFoundError):
            self.stats.scanned -= 1  # removed between the walk and the hash
            return
        self.stats.problem(f"{rel}: {error.strerror or error}")
        if existed:
            self._seen(rel, None)  # still there: keep what we knew

    def _keep_unreadable(self, known: dict[str, Signature], unreadable: list[str]) -> None:
        """Records under a folder we could not read are kept, not taken for removed."""
        for folder in unreadable:
            self.stats.problem(f"{folder}/: cannot read folder")
            prefix = folder + "/"
            for rel in [r for r in known if r.startswith(prefix)]:
                self._seen(rel, known.pop(rel))

    def _flush(self) -> None:
        self._flush_seen()
        self._flush_changed()

    def _flush_seen(self) -> None:
        if self.seen:
            seen = self.seen[:]
            self.seen.clear()  # the same list: the walk loop holds it
            self.writer.put(lambda: self.ledger.touch_file_records(
                self.root, seen, self.generation))

    def _flush_changed(self) -> None:
        if self.changed:
            changed, self.changed = self.changed, []
            self.writer.put(lambda: self.ledger.upsert_file_records(changed))


class BackgroundWriter:
    """Runs ledger writes in order on one thread, so that they overlap the walk (SQLite
    and network clients release the GIL). At most `depth` batches wait; the first error
    is raised in the caller at the next put or at exit."""

    def __init__(self, depth: int = 4) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="ledger-writer", daemon=True)

    def put(self, call: Callable[[], None]) -> None:
        self._raise()
        self._queue.put(call)

    def _loop(self) -> None:
        while (call := self._queue.get()) is not None:
            if self._error is None:
                try:
                    call()
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if kind is None:
            self._raise()
