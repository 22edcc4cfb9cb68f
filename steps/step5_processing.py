"""Step 5 as a Prefect task."""

from steps import step_task

processing = step_task(5)
