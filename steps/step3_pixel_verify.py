"""Step 3 as a Prefect task."""

from steps import step_task

pixel_verify = step_task(3)
