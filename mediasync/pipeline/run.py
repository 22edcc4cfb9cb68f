"""One media-sync run: the ledger's lock, the run's `sync_operations` row, the steps in
order halting at the first that fails, and what the run did. Plain Python: the Prefect
flow calls this with a step runner that runs each step as its task."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mediasync.ledger import run_lock_for
from mediasync.ledger.runlock import LockHolder, holding
from mediasync.model import SyncOperation
from mediasync.pipeline.context import ProgressCallback, RunContext, StepReport
from mediasync.pipeline.steps import STEPS, Step, open_context
from mediasync.settings import Settings

if TYPE_CHECKING:  # the media stack loads only where step 6 runs
    from mediasync.media.parallel import Compressor

StepRunner = Callable[[Step, RunContext], StepReport]


def run_step(step: Step, ctx: RunContext) -> StepReport:
    """The default runner: the step's core function, here and now."""
    return step.run(ctx)


@dataclass
class RunResult:
    run_id: str
    dry_run: bool
    reports: list[StepReport] = field(default_factory=list)
    failed_step: int | None = None
    error: str | None = None  # the failed step's own one-line cause
    message: str = ""  # the run's last line

    @property
    def completed(self) -> bool:
        return self.failed_step is None

    def summary(self) -> dict[str, Any]:
        """The run as plain data (what the flow returns and the alert hook reads)."""
        return {"run_id": self.run_id, "dry_run": self.dry_run,
                "failed_step": self.failed_step, "error": self.error,
                "steps": [r.as_row() for r in self.reports]}


def run_pipeline(settings: Settings, run_id: str, start: int = 1, end: int = 8, *,
                 dry_run: bool = False, limit: int | None = None,
                 accept_shrink: bool = False, wait_for_lock: float = 0,
                 step_runner: StepRunner = run_step,
                 progress: ProgressCallback | None = None,
                 compress: Compressor | None = None) -> RunResult:
    """Run steps `start` to `end` on one ledger, one run at a time: raises LedgerBusy when
    another run holds the ledger after `wait_for_lock` seconds. `progress` hears of each
    file a step finishes; `compress` is step 6's compressor (None: this machine's cores)."""
    if not 1 <= start <= end <= len(STEPS):
        raise ValueError(f"steps {start}..{end} are not within 1..{len(STEPS)}")
    with _ledger_lock(settings, run_id, dry_run, wait_for_lock):
        ctx = open_context(settings, run_id, dry_run=dry_run, limit=limit,
                           progress=progress, compress=compress,
                           accept_shrink=accept_shrink)
        try:
            return _run_steps(ctx, STEPS[start - 1:end], step_runner)
        finally:
            ctx.ledger.close()


def _ledger_lock(settings: Settings, run_id: str, dry_run: bool,
                 wait_seconds: float) -> AbstractContextManager[None]:
    """A dry run changes nothing, so it runs beside a holder of the lock."""
    if dry_run:
        return nullcontext()
    lock = run_lock_for(settings.ledger.url, settings.base_dir)
    return holding(lock, LockHolder(run_id=run_id), wait_seconds)


def _run_steps(ctx: RunContext, steps: tuple[Step, ...], runner: StepRunner) -> RunResult:
    result = RunResult(ctx.run_id, ctx.dry_run)
    operation = _start_operation(ctx)
    for step in steps:
        try:
            result.reports.append(runner(step, ctx))
        except Exception as exc:  # the step's own error, already one line
            result.failed_step, result.error = step.number, str(exc) or type(exc).__name__
            result.message = f"step {step.number} ({step.name}) failed: {result.error}"
            break
    else:
        result.message = ("dry run: nothing was changed" if ctx.dry_run
                          else f"steps {steps[0].number}-{steps[-1].number} completed")
    _finish_operation(ctx, operation, result)
    return result


def _start_operation(ctx: RunContext) -> SyncOperation | None:
    if ctx.dry_run:
        return None
    operation = SyncOperation(operation_type="media_sync", status="running", run_id=ctx.run_id)
    ctx.ledger.start_operation(operation)
    return operation


def _finish_operation(ctx: RunContext, operation: SyncOperation | None,
                      result: RunResult) -> None:
    if operation is None:
        return
    reports = result.reports
    operation.status = "completed" if result.completed else "failed"
    operation.error = None if result.completed else result.message
    by_step = {r.step: r for r in reports}
    operation.files_added = by_step[1].done if 1 in by_step else 0
    operation.files_updated = sum(r.done for r in reports if r.step != 1)
    operation.files_failed = sum(r.failed for r in reports)
    operation.detail = {"steps": [r.as_row() for r in reports]}
    ctx.ledger.finish_operation(operation)
