"""Step 6 as a Prefect task."""

from steps import step_task

compression = step_task(6)
