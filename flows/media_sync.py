"""The media-sync flow: the eight steps in order, halting at the first that fails."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed, Failed, State
from prefect.utilities.annotations import quote
from pydantic import Field

from mediasync.errors import LedgerBusy
from mediasync.model import SyncOperation
from mediasync.notify import alert_if_stuck
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.runlock import LockHolder, holding, run_lock_for
from mediasync.settings import Settings, load_settings
from steps.step1_download import download
from steps.step2_pixel_sync import pixel_sync
from steps.step3_pixel_verify import pixel_verify
from steps.step4_nas_archive import nas_archive
from steps.step5_processing import processing
from steps.step6_compression import cluster_compressor, compression
from steps.step7_source_delete import source_delete
from steps.step8_cleanup import cleanup
from tasks.alerts import alert_on_failure

STEP_TASKS = (download, pixel_sync, pixel_verify, nas_archive, processing, compression,
              source_delete, cleanup)

StepNumber = Annotated[int, Field(ge=1, le=8, description="a step number, 1 to 8")]


@flow(name="media-sync", description="iCloud download → Pixel sync → Pixel verification → "
      "NAS archive → processing → compression → source delete → cleanup",
      on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def media_sync(
    start: StepNumber = 1,
    end: StepNumber = 8,
    dry_run: bool = False,
    limit: Annotated[int, Field(ge=1)] | None = None,
    config: str | None = None,
    wait_for_lock: Annotated[float, Field(ge=0)] = 0,
    accept_shrink: bool = False,
) -> State[dict[str, Any]]:
    """Run steps `start` to `end`. `dry_run` reports what each step would do and changes
    nothing; `limit` caps the files each step takes; `config` is a mediasync.toml path
    (default: $MEDIASYNC_CONFIG or ./mediasync.toml). One run at a time per ledger: while
    another holds it, wait up to `wait_for_lock` seconds, then end Cancelled.
    `accept_shrink` tells step 7's circuit breaker that the source really shrank."""
    if start > end:
        return Failed(message=f"start ({start}) is after end ({end})")
    settings = load_settings(Path(config) if config else None)
    compress = cluster_compressor(settings.compression)  # here, outside any task
    run_id = str(flow_run.id or "local")
    try:
        with _ledger_lock(settings, run_id, dry_run, wait_for_lock):
            ctx = open_context(settings, run_id, dry_run=dry_run, limit=limit,
                               compress=compress, accept_shrink=accept_shrink)
            try:
                return _run_steps(ctx, start, end)
            finally:
                ctx.ledger.close()
    except LedgerBusy as exc:
        get_run_logger().warning(str(exc))
        alert_if_stuck(exc, settings)
        return Cancelled(message=str(exc))


def _ledger_lock(settings: Settings, run_id: str, dry_run: bool,
                 wait_seconds: float) -> AbstractContextManager[None]:
    """A dry run changes nothing, so it runs beside a holder of the lock."""
    if dry_run:
        return nullcontext()
    lock = run_lock_for(settings.ledger.url, settings.base_dir)
    return holding(lock, LockHolder(run_id=run_id), wait_seconds)


def _run_steps(ctx: RunContext, start: int, end: int) -> State[dict[str, Any]]:
    logger = get_run_logger()
    operation = _start_operation(ctx)
    reports: list[StepReport] = []
    for number in range(start, end + 1):
        state = STEP_TASKS[number - 1](quote(ctx), return_state=True)
        if state.is_failed():
            cause = _cause(state)
            message = f"step {number} ({STEPS[number - 1].name}) failed: {cause}"
            logger.error(message)
            summary = _summary(ctx, reports, failed_step=number, error=cause)
            _finish_operation(ctx, operation, reports, error=message)
            _publish(ctx, reports, message)
            return Failed(message=message, data=summary)
        reports.append(state.result())
    done = "dry run: nothing was changed" if ctx.dry_run else f"steps {start}-{end} completed"
    _finish_operation(ctx, operation, reports, error=None)
    _publish(ctx, reports, done)
    return Completed(message=done, data=_summary(ctx, reports))


def _cause(state: State[Any]) -> str:
    try:
        state.result()
    except Exception as exc:  # the step's own error, already one line
        return str(exc) or type(exc).__name__
    return state.message or "unknown error"


def _summary(ctx: RunContext, reports: list[StepReport], failed_step: int | None = None,
             error: str | None = None) -> dict[str, Any]:
    return {"run_id": ctx.run_id, "dry_run": ctx.dry_run, "failed_step": failed_step,
            "error": error, "steps": [r.as_row() for r in reports]}


def _start_operation(ctx: RunContext) -> SyncOperation | None:
    if ctx.dry_run:
        return None
    operation = SyncOperation(operation_type="media_sync", status="running", run_id=ctx.run_id)
    ctx.ledger.start_operation(operation)
    return operation


def _finish_operation(ctx: RunContext, operation: SyncOperation | None,
                      reports: list[StepReport], error: str | None) -> None:
    if operation is None:
        return
    operation.status = "failed" if error else "completed"
    operation.error = error
    by_step = {r.step: r for r in reports}
    operation.files_added = by_step[1].done if 1 in by_step else 0
    operation.files_updated = sum(r.done for r in reports if r.step != 1)
    operation.files_failed = sum(r.failed for r in reports)
    operation.detail = {"steps": [r.as_row() for r in reports]}
    ctx.ledger.finish_operation(operation)


def _publish(ctx: RunContext, reports: list[StepReport], headline: str) -> None:
    rows = [r.as_row() for r in reports]
    create_table_artifact(rows, key="media-sync-steps",
                          description="per-step counts, duration and throughput")
    lines = [f"# media-sync run {ctx.run_id}", "", f"**{headline}**", ""]
    lines += [f"- step {r.step} ({r.name}): {r.message}" for r in reports]
    planned = [dict(row, step=r.step) for r in reports for row in r.planned]
    if planned:
        create_table_artifact(planned, key="media-sync-dry-run",
                              description="what each step would do")
    create_markdown_artifact("\n".join(lines), key="media-sync-summary",
                             description="run summary")
