"""Step 8 as a Prefect task."""

from steps import step_task

cleanup = step_task(8)
