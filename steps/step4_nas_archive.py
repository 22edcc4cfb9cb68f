"""Step 4 as a Prefect task."""

from steps import step_task

nas_archive = step_task(4)
