"""A small, realistic library to show the pipeline on, and a config that points at it."""

from __future__ import annotations

from pathlib import Path

from mediasync.media.samples import demo_library
from mediasync.media.types import media_type_of
from mediasync.model import MediaType

DEMO_CONFIG = """\
# Written by `mediasync demo`: a folder source, a local "NAS", an SQLite ledger.
[source]
kind = "folder"
path = "library"

[ledger]
url = "sqlite:///mediasync.db"

[workflow]
incoming = "workflow/incoming"
pixel_sync = "workflow/pixel_sync"
processing = "workflow/processing"
icloud_delete = "workflow/icloud_delete"
nas_archive = "nas_archive"
compressed = "nas_compressed"
cleanup_after_hours = 0
"""

def make_library(folder: Path) -> dict[str, list[Path]]:
    """The sample library, sorted by what the pipeline must do with each file: `good`
    ones end completed, `bad` ones failed with a reason, `skipped` ones (sidecars) stay
    at the source untouched."""
    made = demo_library(folder)
    sorted_files: dict[str, list[Path]] = {"good": [], "bad": [], "skipped": []}
    for path in made:
        if path.parent.name == "broken":
            sorted_files["bad"].append(path)
        elif media_type_of(path.name) == MediaType.SIDECAR:
            sorted_files["skipped"].append(path)
        else:
            sorted_files["good"].append(path)
    return sorted_files


def write_demo_config(folder: Path) -> Path:
    config = folder / "mediasync.toml"
    config.write_text(DEMO_CONFIG)
    (folder / "nas_archive").mkdir(parents=True, exist_ok=True)
    return config
