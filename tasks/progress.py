"""Progress of a step: a live Prefect progress artifact, and an optional local sink
(the CLI's progress bar) for runs started in this process."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from mediasync.pipeline.context import ProgressCallback

_sink: ProgressCallback | None = None
UPDATE_EVERY_SECONDS = 2.0


def set_progress_sink(sink: ProgressCallback | None) -> None:
    global _sink
    _sink = sink


class StepProgress:
    """Calls the sink at once; updates the artifact at most every UPDATE_EVERY_SECONDS,
    because each update is a request to the Prefect API."""

    def __init__(self, step: int, name: str) -> None:
        self._step, self._name = step, name
        self._artifact: UUID | None = None
        self._last = 0.0
        self._sink: Callable[[int, int, str], None] | None = _sink

    def __call__(self, done: int, total: int, what: str) -> None:
        if self._sink is not None:
            self._sink(done, total, f"step {self._step}: {what}")
        now = time.monotonic()
        if done < total and now - self._last < UPDATE_EVERY_SECONDS:
            return
        self._last = now
        percent = 100.0 * done / total if total else 100.0
        if self._artifact is None:
            self._artifact = create_progress_artifact(
                percent, description=f"step {self._step}: {self._name}")
        else:
            update_progress_artifact(self._artifact, percent)
