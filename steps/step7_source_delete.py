"""Step 7 as a Prefect task."""

from steps import step_task

source_delete = step_task(7)
