"""The media-sync flow: the core's run (mediasync.pipeline.run) with each step as its
Prefect task, and the run's artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Cancelled, Completed, Failed, State
from prefect.utilities.annotations import quote
from pydantic import Field

from mediasync.errors import LedgerBusy, MediasyncError
from mediasync.notify import alert_if_stuck
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pipeline.run import RunResult, run_pipeline
from mediasync.pipeline.steps import Step
from mediasync.settings import load_settings
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
    try:
        result = run_pipeline(settings, str(flow_run.id or "local"), start, end,
                              dry_run=dry_run, limit=limit, accept_shrink=accept_shrink,
                              wait_for_lock=wait_for_lock, step_runner=_as_task,
                              compress=cluster_compressor(settings.compression))
    except LedgerBusy as exc:
        get_run_logger().warning(str(exc))
        alert_if_stuck(exc, settings)
        return Cancelled(message=str(exc))
    except MediasyncError as exc:  # before the first step: the ledger or its lock
        get_run_logger().error(str(exc))
        return Failed(message=str(exc), data={"failed_step": None, "error": str(exc),
                                              "steps": []})
    _publish(result)
    if not result.completed:
        get_run_logger().error(result.message)
        return Failed(message=result.message, data=result.summary())
    return Completed(message=result.message, data=result.summary())


def _as_task(step: Step, ctx: RunContext) -> StepReport:
    """One task run per step, with the task's retries; a failed task raises its cause."""
    report: StepReport = STEP_TASKS[step.number - 1](quote(ctx))
    return report


def _publish(result: RunResult) -> None:
    create_table_artifact([r.as_row() for r in result.reports], key="media-sync-steps",
                          description="per-step counts, duration and throughput")
    lines = [f"# media-sync run {result.run_id}", "", f"**{result.message}**", ""]
    lines += [f"- step {r.step} ({r.name}): {r.message}" for r in result.reports]
    planned = [dict(row, step=r.step) for r in result.reports for row in r.planned]
    if planned:
        create_table_artifact(planned, key="media-sync-dry-run",
                              description="what each step would do")
    create_markdown_artifact("\n".join(lines), key="media-sync-summary",
                             description="run summary")
