"""What every step receives, and what every step reports."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mediasync.ledger.base import Ledger
from mediasync.settings import Settings
from mediasync.sources.base import Source

if TYPE_CHECKING:  # the media stack (Pillow, ffmpeg) loads only where step 6 runs
    from mediasync.media.parallel import Compressor

ProgressCallback = Callable[[int, int, str], None]  # (done, total, what)


def _no_progress(done: int, total: int, what: str) -> None:
    return None


@dataclass
class RunContext:
    settings: Settings
    ledger: Ledger
    source: Source
    run_id: str
    dry_run: bool = False
    limit: int | None = None
    accept_shrink: bool = False  # a person accepts that the source shrank (step 7's breaker)
    progress: ProgressCallback = _no_progress
    # step 6's; None: compress_many on this machine's cores. The Prefect layer gives
    # another (a Dask cluster's) when compression.dask_address is set.
    compress: Compressor | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("mediasync"))

    def path(self, folder: str) -> Any:
        """An absolute working folder, e.g. ctx.path("incoming")."""
        return self.settings.resolve(getattr(self.settings.workflow, folder))


@dataclass
class StepReport:
    step: int
    name: str
    done: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    message: str = ""
    # dry run: one row per file the step would act on ({"file": ..., "action": ...})
    planned: list[dict[str, Any]] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic, repr=False)

    def finish(self) -> StepReport:
        self.seconds = time.monotonic() - self._started
        return self

    @property
    def files_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def as_row(self) -> dict[str, Any]:
        return {
            "step": self.step, "name": self.name, "done": self.done,
            "skipped": self.skipped, "failed": self.failed,
            "seconds": round(self.seconds, 2),
            "files_per_s": round(self.files_per_second, 1),
            "mb_per_s": round(self.mb_per_second, 1), "message": self.message,
        }
