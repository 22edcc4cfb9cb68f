"""Step 2: place files in the folder Syncthing shares with the Pixel."""

from __future__ import annotations

from mediasync.errors import ConfigError
from mediasync.pipeline.context import RunContext, StepReport


def run(ctx: RunContext) -> StepReport:
    report = StepReport(2, "pixel sync")
    if not ctx.settings.pixel_enabled:
        report.message = "skipped: Pixel sync disabled"
        return report.finish()
    raise ConfigError("syncthing.enabled is set, but Pixel sync is not part of this version")
