"""The eight steps, in order, and how a run's context is opened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mediasync.ledger import open_ledger
from mediasync.media.parallel import Compressor
from mediasync.pipeline import (
    archive,
    cleanup,
    compression,
    download,
    pixel_sync,
    pixel_verify,
    processing,
    source_delete,
)
from mediasync.pipeline.context import ProgressCallback, RunContext, StepReport
from mediasync.settings import Settings
from mediasync.sources import build_source


@dataclass(frozen=True)
class Step:
    number: int
    name: str
    description: str
    run: Callable[[RunContext], StepReport]


STEPS: tuple[Step, ...] = (
    Step(1, "download", "copy new assets from the source into incoming/", download.run),
    Step(2, "pixel sync", "place files in the Syncthing folder shared with the Pixel",
         pixel_sync.run),
    Step(3, "pixel verification", "wait until Syncthing proves the Pixel holds each file",
         pixel_verify.run),
    Step(4, "NAS archive", "verified copy to the NAS, laid out by capture date", archive.run),
    Step(5, "processing", "move to processing/, read metadata, prove it decodes",
         processing.run),
    Step(6, "compression", "compress by the configured rules, beside the archive",
         compression.run),
    Step(7, "source delete", "list files proven safe; delete at the source when enabled",
         source_delete.run),
    Step(8, "cleanup", "mark completed, remove aged working copies and temp files",
         cleanup.run),
)


def open_context(settings: Settings, run_id: str, dry_run: bool = False,
                 limit: int | None = None, progress: ProgressCallback | None = None,
                 compress: Compressor | None = None,
                 accept_shrink: bool = False) -> RunContext:
    """A dry run opens the ledger read-only: it cannot change a byte of it."""
    ledger = open_ledger(settings.ledger.url, settings.base_dir, read_only=dry_run,
                         timeout=settings.ledger.timeout_seconds)
    ctx = RunContext(settings=settings, ledger=ledger, source=build_source(settings),
                     run_id=run_id, dry_run=dry_run, limit=limit, compress=compress,
                     accept_shrink=accept_shrink)
    if progress is not None:
        ctx.progress = progress
    return ctx
