"""Keep `file_records` current while files change: watchdog events, debounced, in batches.

Observers start first and their events wait in the debouncer while a startup pass
reconciles every root, so nothing that happens during that pass is missed. Afterwards a
path is handled once it has been quiet for the debounce time: a burst of writes to one
file is hashed once. Each batch is one `sync_operations` row per root ("realtime").
Only the worker thread writes to the ledger.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from mediasync.errors import ScanError
from mediasync.ledger.base import FileRecord, Ledger
from mediasync.model import SyncOperation
from mediasync.records.ignore import ignored_rel_path
from mediasync.records.scan import ScanOptions, ScanStats, Signature, finish_operation, reconcile
from mediasync.records.walk import Hashed, Hasher, HashPool, check_root, walk_files

log = logging.getLogger("mediasync.watch")

# events that can change what a file holds or whether it exists
_RELEVANT = frozenset({"created", "modified", "moved", "deleted", "closed", "attrib"})


@dataclass
class WatchOptions:
    debounce_seconds: float = 0.5
    scan: ScanOptions = field(default_factory=ScanOptions)


class Debouncer:
    """Paths waiting until they have been quiet for `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._last: dict[str, float] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._working = False  # a batch taken and not yet done()

    def add(self, path: str) -> None:
        with self._cond:
            self._last[path] = time.monotonic()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._last and not self._working

    def done(self) -> None:
        with self._cond:
            self._working = False

    def take_ready(self) -> list[str] | None:
        """Block until some paths have been quiet long enough and return them; after
        close(), return everything left at once, then None."""
        with self._cond:
            while True:
                if self._closed:
                    left, self._last = list(self._last), {}
                    self._working = bool(left)
                    return left or None
                now = time.monotonic()
                ready = [p for p, t in self._last.items() if now - t >= self.delay]
                if ready:
                    for path in ready:
                        del self._last[path]
                    self._working = True
                    return ready
                due = min(self._last.values(), default=None)
                self._cond.wait(None if due is None else due + self.delay - now)


class _Events(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _RELEVANT:
            return
        if event.is_directory and event.event_type in ("modified", "attrib", "closed"):
            return  # a folder's own listing changed: its files report themselves
        for path in (event.src_path, event.dest_path):
            if path:
                self._watcher.touched(os.fsdecode(path))


class Watcher:
    """Watches folder trees and keeps their `file_records` current: start(), stop()."""

    def __init__(self, ledger: Ledger, roots: Sequence[Path],
                 options: WatchOptions | None = None) -> None:
        self.ledger = ledger
        self.options = options or WatchOptions()
        self.roots = _distinct_roots(roots)
        self.indexes: dict[str, dict[str, Signature]] = {str(r): {} for r in self.roots}
        self.hash_count = 0
        self.ready = threading.Event()  # set once the startup pass is done
        self._pending = Debouncer(self.options.debounce_seconds)
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        self._observer = Observer()
        self._worker = threading.Thread(target=self._run, name="watcher", daemon=True)

    def start(self) -> None:
        handler = _Events(self)
        for root in self.roots:
            self._observer.schedule(handler, str(root), recursive=True)
        self._observer.start()
        self._worker.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop watching, handle what is still pending, return when done (a startup pass
        under way finishes its root; the next roots are left to the next start)."""
        self._stopping.set()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout)
        self._pending.close()
        if self._worker.is_alive():
            self._worker.join(timeout)

    def idle(self) -> bool:
        """Startup pass done, nothing pending, no batch running."""
        return self.ready.is_set() and self._pending.idle()

    def touched(self, path: str) -> None:
        root = self._root_of(path)
        if root is not None and not ignored_rel_path(path[len(root) + 1:]):
            self._pending.add(path)

    def _root_of(self, path: str) -> str | None:
        for root in self.indexes:
            if path.startswith(root + os.sep):
                return root
        return None

    def _hasher(self) -> Hasher:
        inner = self.options.scan.hasher

        def counted(path: Path) -> str:
            with self._count_lock:
                self.hash_count += 1
            return inner(path)
        return counted

    def _run(self) -> None:
        for root in self.roots:
            if not self._stopping.is_set():
                self._startup_pass(root)
        self.ready.set()
        while (paths := self._pending.take_ready()) is not None:
            try:
                self._handle(paths)
            finally:
                self._pending.done()

    def _startup_pass(self, root: Path) -> None:
        options = replace(self.options.scan, hasher=self._hasher())
        try:
            stats = reconcile(self.ledger, root, operation_type="startup", options=options,
                              index=self.indexes[str(root)])
        except Exception:
            log.exception("startup pass of %s failed; watching it anyway", root)
            return
        log.info("startup pass of %s: %d files, %d added, %d updated, %d removed",
                 root, stats.scanned, stats.added, stats.updated, stats.removed)

    def _handle(self, paths: list[str]) -> None:
        by_root: dict[str, list[str]] = {}
        for path in paths:
            root = self._root_of(path)
            if root is not None:
                by_root.setdefault(root, []).append(path[len(root) + 1:])
        for root, rels in by_root.items():
            try:
                _Batch(self, root, rels).run()
            except Exception:
                log.exception("realtime batch under %s failed; the next pass repairs it", root)


class _Batch:
    """One debounced batch under one root: re-examine each path, hash what changed."""

    def __init__(self, watcher: Watcher, root: str, rels: list[str]) -> None:
        self.watcher, self.ledger, self.root = watcher, watcher.ledger, root
        self.index = watcher.indexes[root]
        self.options = watcher.options.scan
        self.stats = ScanStats(root=root, operation_type="realtime")
        self.rels = rels
        self.removed: set[str] = set()
        self.changed: list[FileRecord] = []
        self.generation = 0  # this batch's operation id, once started

    def run(self) -> None:
        op = SyncOperation(operation_type="realtime", status="running")
        self.generation = self.stats.operation_id = self.ledger.start_operation(op)
        started = time.monotonic()
        try:
            self._examine()
        except Exception as exc:
            finish_operation(self.ledger, op, self.stats, started, error=str(exc))
            raise
        finish_operation(self.ledger, op, self.stats, started)

    def _examine(self) -> None:
        with HashPool[tuple[str, int, int]](self.watcher._hasher(), self.options.workers) as pool:
            for rel, size, mtime in self._files():
                self.stats.scanned += 1
                if self.index.get(rel) != (size, mtime):
                    self._take(pool.submit(Path(self.root, rel), (rel, size, mtime)))
            self._take(pool.drain())
        if self.changed:
            self.ledger.upsert_file_records(self.changed)
        gone = sorted(rel for rel in self.removed if rel in self.index)
        if gone:
            self.ledger.delete_file_records(self.root, gone)
            for rel in gone:
                del self.index[rel]
        self.stats.removed = len(gone)

    def _files(self) -> list[tuple[str, int, int]]:
        """What each path is now: a file, a folder (all its files), or gone (its record and
        any records under it are removed)."""
        found: list[tuple[str, int, int]] = []
        for rel in self.rels:
            try:
                st = os.stat(Path(self.root, rel), follow_symlinks=False)
            except FileNotFoundError:
                self.removed.update(self._recorded_under(rel, itself=True))
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((rel, st.st_size, st.st_mtime_ns))
            elif stat.S_ISDIR(st.st_mode):
                found.extend(self._folder(rel))
        return found

    def _folder(self, rel: str) -> list[tuple[str, int, int]]:
        unreadable: list[str] = []
        try:
            files = list(walk_files(Path(self.root), unreadable, start=rel))
        except ScanError:
            return []
        present = {f[0] for f in files}
        self.removed.update(r for r in self._recorded_under(rel) if r not in present)
        return files

    def _recorded_under(self, rel: str, itself: bool = False) -> list[str]:
        prefix = rel + "/"
        under = [r for r in self.index if r.startswith(prefix)]
        return [rel, *under] if itself else under

    def _take(self, results: list[Hashed[tuple[str, int, int]]]) -> None:
        for result in results:
            rel, size, mtime = result.tag
            if result.error is not None:
                if isinstance(result.error, FileNotFoundError):
                    self.removed.add(rel)
                else:
                    self.stats.problem(f"{rel}: {result.error.strerror or result.error}")
                continue
            if rel in self.index:
                self.stats.updated += 1
            else:
                self.stats.added += 1
            self.index[rel] = (size, mtime)
            self.stats.hashed_bytes += size
            self.changed.append(FileRecord(self.root, rel, size, mtime, result.digest,
                                           self.generation))


def _distinct_roots(roots: Sequence[Path]) -> list[Path]:
    """Absolute, existing, and never one inside another (each file has one root)."""
    if not roots:
        raise ScanError("nothing to watch: give a folder (or set watch.roots)")
    resolved = sorted({check_root(r) for r in roots})
    for outer in resolved:
        for inner in resolved:
            if inner != outer and inner.is_relative_to(outer):
                raise ScanError(f"watched folders overlap: {inner} is inside {outer}",
                                subject=inner)
    return resolved
