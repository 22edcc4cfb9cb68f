"""A mediasync installation (tests.helpers.Workspace) whose Pixel folder is shared with
the test phone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mediasync.model import MediaFile, Stage
from mediasync.pipeline import download
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pipeline.steps import open_context
from tests.helpers import Workspace
from tests.syncthing.syncthing_pair import Pair, Shared

SYNCTHING_CONFIG = """
[syncthing]
enabled = true
api_url = "{url}"
api_key = "{key}"
folder_id = "{folder_id}"
device_id = "{device_id}"
event_poll_seconds = 5
"""


@dataclass
class PixelWorkspace(Workspace):
    shared: Shared | None = None

    @classmethod
    def share(cls, root: Path, pair: Pair, shared: Shared, **overrides: str) -> PixelWorkspace:
        """`root` must be the folder `shared` was made in; overrides replace the url, key,
        folder_id or device_id to break the set-up."""
        values = {"url": pair.computer.url, "key": pair.computer.api_key,
                  "folder_id": shared.folder_id, "device_id": pair.phone.device_id,
                  **overrides}
        Workspace.create(root, SYNCTHING_CONFIG.format(**values))
        return cls(root, shared)

    @property
    def folder_id(self) -> str:
        assert self.shared is not None
        return self.shared.folder_id

    @property
    def phone_dir(self) -> Path:
        assert self.shared is not None
        return self.shared.phone_dir

    @property
    def pixel_dir(self) -> Path:
        assert self.shared is not None
        return self.shared.computer_dir

    def context(self, dry_run: bool = False) -> RunContext:
        return open_context(self.settings(), "test-run", dry_run=dry_run)

    def step(self, run: object, dry_run: bool = False) -> StepReport:
        """One step's core function, outside Prefect."""
        ctx = self.context(dry_run=dry_run)
        try:
            return run(ctx)  # type: ignore[operator, no-any-return]
        finally:
            ctx.ledger.close()

    def download(self, files: dict[str, bytes]) -> None:
        """Files into the library, then step 1: they are `downloaded` in the ledger."""
        for name, data in files.items():
            (self.library / name).write_bytes(data)
        self.step(download.run)

    def at(self, stage: Stage) -> list[MediaFile]:
        ledger = self.ledger()
        try:
            return ledger.files_at([stage])
        finally:
            ledger.close()

    def pixel_files(self) -> set[str]:
        return {p.name for p in self.pixel_dir.iterdir() if not p.name.startswith(".")}
