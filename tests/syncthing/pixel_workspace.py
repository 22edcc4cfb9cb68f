"""A mediasync installation whose Pixel folder is shared by the test Syncthing pair."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from syncthing_pair import Pair, Shared

from mediasync.ledger.base import Ledger
from mediasync.model import MediaFile, Stage
from mediasync.pipeline import download
from mediasync.pipeline.context import RunContext
from mediasync.pipeline.steps import open_context
from mediasync.settings import load_settings

CONFIG = """\
[source]
kind = "folder"
path = "library"

[ledger]
url = "sqlite:///mediasync.db"

[workflow]
incoming = "workflow/incoming"
pixel_sync = "{pixel_sync}"
nas_archive = "nas"
pixel_batch_size = {batch}
sync_timeout_seconds = {timeout}

[syncthing]
enabled = true
api_url = "{url}"
api_key = "{key}"
folder_id = "{folder_id}"
device_id = "{device_id}"
event_poll_seconds = 5
"""


@dataclass
class PixelWorkspace:
    root: Path
    shared: Shared

    @classmethod
    def create(cls, root: Path, pair: Pair, shared: Shared, *, batch: int = 5,
               timeout: float = 30, **overrides: str) -> PixelWorkspace:
        values = {"pixel_sync": str(shared.computer_dir), "batch": batch, "timeout": timeout,
                  "url": pair.computer.url, "key": pair.computer.api_key,
                  "folder_id": shared.folder_id, "device_id": pair.phone.device_id,
                  **overrides}
        (root / "library").mkdir(parents=True, exist_ok=True)
        (root / "mediasync.toml").write_text(CONFIG.format(**values))
        return cls(root, shared)

    @property
    def config(self) -> Path:
        return self.root / "mediasync.toml"

    @property
    def library(self) -> Path:
        return self.root / "library"

    def context(self, dry_run: bool = False) -> RunContext:
        return open_context(load_settings(self.config), "test-run", dry_run=dry_run)

    def download(self, files: dict[str, bytes]) -> None:
        """Files into the library, then step 1: they are `downloaded` in the ledger."""
        for name, data in files.items():
            (self.library / name).write_bytes(data)
        ctx = self.context()
        try:
            download.run(ctx)
        finally:
            ctx.ledger.close()

    def ledger(self) -> Ledger:
        return self.context().ledger

    def at(self, stage: Stage) -> list[MediaFile]:
        ledger = self.ledger()
        try:
            return ledger.files_at([stage])
        finally:
            ledger.close()

    def pixel_files(self) -> set[str]:
        return {p.name for p in self.shared.computer_dir.iterdir() if not p.name.startswith(".")}
