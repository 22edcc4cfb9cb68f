"""Step 1 as a Prefect task."""

from steps import step_task

download = step_task(1)
