"""Pieces every step uses: batched ledger writes and failing one file alone."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from mediasync.errors import MediasyncError
from mediasync.model import MediaFile, Stage, StageChange, SyncOperation
from mediasync.pipeline.context import RunContext

T = TypeVar("T")
R = TypeVar("R")

BATCH_FILES = 100
BATCH_SECONDS = 2.0


def run_ahead(items: Iterable[T], work: Callable[[T], R],
              workers: int) -> Iterator[tuple[T, Future[R]]]:
    """Each item with its work running in `workers` threads, in the items' order, a few
    items ahead of the caller. The items are produced in the caller's thread, so whatever
    must be decided one at a time (a free file name) is decided there. Stopping early
    cancels what has not started and waits for what has."""
    window: deque[tuple[T, Future[R]]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="step") as pool:
        try:
            for item in items:
                window.append((item, pool.submit(work, item)))
                if len(window) > 2 * workers:
                    yield window.popleft()
            yield from window
        finally:
            pool.shutdown(cancel_futures=True)


def read_ahead(items: Iterable[T], size: int = 10_000) -> Iterator[T]:
    """The items, produced in a thread of their own up to `size` ahead of the caller, so
    that a listing fetched page by page goes on while the caller works on what it has.
    What the producer raises reaches the caller after the items before it. Stopping
    early stops the producer at its next item."""
    buffer: queue.Queue[tuple[bool, Any]] = queue.Queue(size)
    stopped = threading.Event()

    def offer(entry: tuple[bool, Any]) -> bool:
        while not stopped.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((True, item)):
                    return
        except BaseException as exc:
            offer((False, exc))
        else:
            offer((False, None))

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            is_item, value = buffer.get()
            if is_item:
                yield value
            elif value is None:
                return
            else:
                raise value
    finally:
        stopped.set()
        producer.join()


def failure(media: MediaFile, exc: BaseException) -> StageChange:
    """The change that fails one file with a one-line reason."""
    reason = str(exc) if isinstance(exc, MediasyncError) else f"{type(exc).__name__}: {exc}"
    assert media.id is not None
    return StageChange(media.id, Stage.FAILED,
                       {"error": reason, "attempts": media.attempts + 1}, detail=reason)


class ChangeWriter:
    """Collects stage changes and writes them in batches: by count or by age, whichever
    comes first, so that a killed run loses at most a few seconds of bookkeeping (and the
    files themselves are found again, idempotently, by the rerun)."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self._pending: list[StageChange] = []
        self._since = time.monotonic()

    def add(self, change: StageChange) -> None:
        self._pending.append(change)
        if (len(self._pending) >= BATCH_FILES
                or time.monotonic() - self._since >= BATCH_SECONDS):
            self.flush()

    def flush(self) -> None:
        if self._pending and not self._ctx.dry_run:
            self._ctx.ledger.apply(self._pending, self._ctx.run_id)
        self._pending = []
        self._since = time.monotonic()

    def __enter__(self) -> ChangeWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        # written also when the step fails: what was done stays recorded
        self.flush()


def last_operation(ctx: RunContext, operation_type: str,
                   look_back: int) -> SyncOperation | None:
    """The newest `operation_type` row recorded for this run's source, among the last
    `look_back` of that type (other sources may share the ledger)."""
    for operation in ctx.ledger.recent_operations(look_back, operation_type):
        if (operation.detail or {}).get("source") == ctx.source.name:
            return operation
    return None


def take(ctx: RunContext, stages: Iterable[Stage]) -> list[MediaFile]:
    return ctx.ledger.files_at(list(stages), limit=ctx.limit)


def plan_row(media: MediaFile, action: str) -> dict[str, Any]:
    return {"file": media.filename, "source_id": media.source_id,
            "stage": media.workflow_stage.value, "action": action}
