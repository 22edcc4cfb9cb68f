"""Step 2 as a Prefect task."""

from steps import step_task

pixel_sync = step_task(2)
