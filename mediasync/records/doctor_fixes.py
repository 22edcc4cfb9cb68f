"""The doctor's own fixes, for findings it can repair without guessing.

    archive_missing     copy a verified working or Pixel copy back into the archive
                        (atomic write, fsync, re-read from disk, hash compared)
    pixel_copy_missing  put a verified working copy back into the Pixel folder
    failed              send failed files back to the stage they failed at; one that
                        failed downloading gets its attempts back for step 1

Every fix re-checks its files first: a finding may be stale by the time it is applied.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mediasync.errors import ConfigError, MediasyncError
from mediasync.files import copy_hashed, sha256_file
from mediasync.ledger.base import Ledger
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.records.doctor import diagnose, intact_copy
from mediasync.settings import Settings


@dataclass
class FixResult:
    code: str
    fixed: int = 0
    skipped: list[str] = field(default_factory=list)  # "file: why not"


def apply_fix(settings: Settings, ledger: Ledger, code: str,
              run_id: str | None = None) -> FixResult:
    if code not in FIXES:
        raise ConfigError(f"no automatic fix for '{code}' (fixable: {', '.join(FIXES)})")
    report = diagnose(settings, ledger)
    ids = [i for f in report.findings if f.code == code for i in f.file_ids]
    files = [m for m in map(ledger.get, ids) if m is not None]
    result = FixResult(code)
    FIXES[code](_Fixer(settings, ledger, result, run_id), files)
    return result


@dataclass
class _Fixer:
    settings: Settings
    ledger: Ledger
    result: FixResult
    run_id: str | None

    def path(self, recorded: str | None) -> Path | None:
        return self.settings.resolve(Path(recorded)) if recorded else None

    def skip(self, media: MediaFile, why: str) -> None:
        self.result.skipped.append(f"{media.label}: {why}")


def _restore_archive(fixer: _Fixer, files: list[MediaFile]) -> None:
    for media in files:
        dest = fixer.path(media.nas_path)
        source = intact_copy(media, [fixer.path(media.local_path), fixer.path(media.pixel_path)])
        if dest is None or dest.exists() or source is None:
            fixer.skip(media, "no longer missing, or no verified copy left")
            continue
        try:
            copy_hashed(source, dest, expected_size=media.size)
            reread = sha256_file(dest, drop_cache=True)
        except (OSError, MediasyncError) as exc:
            fixer.skip(media, f"cannot write {dest}: {exc}")
            continue
        if reread != media.content_hash:
            dest.unlink(missing_ok=True)
            fixer.skip(media, f"{dest} did not read back as written")
            continue
        fixer.ledger.update(media.id or 0, fixer.run_id, nas_hash=reread)
        fixer.result.fixed += 1


def _restore_pixel(fixer: _Fixer, files: list[MediaFile]) -> None:
    for media in files:
        dest = fixer.path(media.pixel_path)
        source = intact_copy(media, [fixer.path(media.local_path)])
        if dest is None or dest.exists() or source is None:
            fixer.skip(media, "no longer missing, or no verified working copy")
            continue
        try:
            _link_or_copy(source, dest, media.size)
        except (OSError, MediasyncError) as exc:
            fixer.skip(media, f"cannot write {dest}: {exc}")
            continue
        fixer.result.fixed += 1


def _link_or_copy(source: Path, dest: Path, size: int | None) -> None:
    """A hard link, as the Pixel step makes; a verified copy where links are impossible."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        copy_hashed(source, dest, expected_size=size)


def _requeue_failed(fixer: _Fixer, files: list[MediaFile]) -> None:
    changes = []
    for media in files:
        if media.workflow_stage != Stage.FAILED or media.id is None:
            fixer.skip(media, "no longer failed")
        elif media.failed_stage is None:
            # its download attempts start again: the next `mediasync run` fetches it
            changes.append(StageChange(media.id, Stage.FAILED, {"attempts": 0},
                                       detail="released by mediasync doctor --fix failed:"
                                              " step 1 downloads it again"))
        else:
            changes.append(StageChange(media.id, media.failed_stage, {"error": None},
                                       detail="requeued by mediasync doctor --fix failed"))
    fixer.ledger.apply(changes, fixer.run_id)
    fixer.result.fixed += len(changes)


FIXES: dict[str, Callable[[_Fixer, list[MediaFile]], None]] = {
    "archive_missing": _restore_archive,
    "pixel_copy_missing": _restore_pixel,
    "failed": _requeue_failed,
}
