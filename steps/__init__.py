"""Each of the eight steps as a Prefect task over the core's step function."""

from __future__ import annotations

from typing import Any

import httpx
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from mediasync.errors import MediasyncError
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pipeline.steps import STEPS
from tasks.progress import StepProgress

RETRY_DELAYS = [2, 10]


def is_transient(task: Task[Any, Any], run: TaskRun, state: State[Any]) -> bool:
    """Retry only what another try can fix: a flaky network, a rate limit, a NAS hiccup."""
    try:
        state.result()
    except MediasyncError as exc:
        return exc.retryable
    except (httpx.TransportError, TimeoutError, ConnectionError):
        return True
    except Exception:
        return False
    return False


def step_task(number: int) -> Task[[RunContext], StepReport]:
    step = STEPS[number - 1]

    def run_step(ctx: RunContext) -> StepReport:
        logger = get_run_logger()
        ctx.progress = StepProgress(step.number, step.name)
        report = step.run(ctx)
        logger.info("step %d (%s): %s", step.number, step.name, report.message)
        return report

    return task(
        run_step,
        name=f"step {step.number}: {step.name}",
        description=step.description,
        retries=len(RETRY_DELAYS),
        retry_delay_seconds=RETRY_DELAYS,
        retry_condition_fn=is_transient,
        cache_policy=NO_CACHE,
    )
