"""A throwaway mediasync installation: config, source folder, NAS folder, ledger."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediasync.cli.demo import DEMO_CONFIG
from mediasync.ledger import open_ledger
from mediasync.ledger.base import Ledger
from mediasync.nas.archive import MARKER_NAME
from mediasync.settings import Settings, load_settings


@dataclass
class Workspace:
    root: Path

    @classmethod
    def create(cls, root: Path, extra_config: str = "") -> Workspace:
        (root / "library").mkdir(parents=True, exist_ok=True)
        (root / "nas_archive").mkdir(exist_ok=True)
        (root / "mediasync.toml").write_text(DEMO_CONFIG + extra_config)
        return cls(root)

    @property
    def config(self) -> Path:
        return self.root / "mediasync.toml"

    @property
    def library(self) -> Path:
        return self.root / "library"

    @property
    def nas(self) -> Path:
        return self.root / "nas_archive"

    def settings(self) -> Settings:
        return load_settings(self.config)

    def ledger(self) -> Ledger:
        return open_ledger("sqlite:///mediasync.db", self.root)

    def run(self, **parameters: Any) -> Any:
        """Run the real media-sync flow; returns its final state."""
        from flows.media_sync import media_sync

        return media_sync(config=str(self.config), return_state=True, **parameters)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under root (names as raw bytes, for odd names) with size and hash."""
    snapshot: dict[str, tuple[int, str]] = {}
    for folder, _, names in os.walk(os.fsencode(root)):
        for name in names:
            path = Path(os.fsdecode(os.path.join(folder, name)))
            snapshot[os.fsdecode(os.path.relpath(os.path.join(folder, name),
                                                 os.fsencode(root)))] = (
                path.stat().st_size, sha256(path))
    return snapshot


def archived_files(nas: Path) -> dict[str, list[Path]]:
    """NAS files by content hash (the archive's identity marker aside)."""
    found: dict[str, list[Path]] = {}
    for path in nas.rglob("*"):
        if path.is_file() and path != nas / MARKER_NAME:
            found.setdefault(sha256(path), []).append(path)
    return found
