"""Running the real steps 1-6 on a generated library, for the step tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from mediasync.model import MediaFile, Stage
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.run import run_pipeline
from mediasync.pipeline.steps import open_context
from mediasync.settings import Settings
from tests.helpers import Workspace

COMPRESSION = """
[compression]
replace_original = {replace}

[[compression.rules]]
media_type = "image"
formats = ["jpg", "jpeg", "png", "heic"]
strategy = "jpeg"
quality = 80

[[compression.rules]]
media_type = "video"
strategy = "hevc"
crf = 30
preset = "ultrafast"
"""


def setup_run(tmp_path: Path, library: Path, replace: bool = False) -> Settings:
    workspace = Workspace.create(tmp_path, COMPRESSION.format(replace=str(replace).lower()))
    shutil.copytree(library, workspace.library, dirs_exist_ok=True)
    return workspace.settings()


def run_steps(settings: Settings, last: int, progress=None) -> list[StepReport]:
    result = run_pipeline(settings, "run", 1, last, progress=progress)
    assert result.completed, result.message
    return result.reports


def files_by_name(settings: Settings) -> dict[str, list[MediaFile]]:
    ctx = open_context(settings, run_id="look")
    try:
        found: dict[str, list[MediaFile]] = {}
        for stage in Stage:
            for media in ctx.ledger.files_at([stage]):
                found.setdefault(media.filename, []).append(media)
        return found
    finally:
        ctx.ledger.close()


