"""Where things stand between the source, the working folders, the NAS archive and the
ledger.

The doctor reads; it changes nothing unless asked to apply one of its fixes (`fix()`).
Each finding says what differs, where, over which dates, whether it matters, and the
command that fixes it. A missing copy matters or not by what it was for: a completed
file's working copy is removed on purpose, an archive copy never is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mediasync.files import is_local_fault, sha256_file
from mediasync.ledger.base import Ledger
from mediasync.model import (
    PIPELINE_ORDER,
    SUPERSEDED,
    MediaFile,
    SourceAsset,
    Stage,
    signature_differs,
)
from mediasync.nas import identity as archive_identity
from mediasync.nas.archive import NasArchive
from mediasync.records.walk import walk_files
from mediasync.settings import Settings
from mediasync.sources.base import ListingNotes, Source

# working folders (settings.workflow.*) the doctor counts; icloud_delete holds manifests
PLACES = ("incoming", "pixel_sync", "processing", "nas_archive", "compressed",
          "icloud_delete")
MEDIA_PLACES = PLACES[:-1]
MAX_EXAMPLES = 10
_RANK = {stage: i for i, stage in enumerate(PIPELINE_ORDER)}
_RESTING = (Stage.COMPLETED, Stage.FAILED, Stage.SKIPPED)  # never stuck


@dataclass
class Finding:
    code: str
    place: str
    needs_action: bool
    summary: str
    fix: str
    count: int = 0
    first: str | None = None  # date range of the files concerned
    last: str | None = None
    examples: list[str] = field(default_factory=list)
    file_ids: list[int] = field(default_factory=list)


@dataclass
class DoctorReport:
    places: dict[str, int | None]  # files on disk; None when the folder does not exist
    stages: dict[str, int]
    findings: list[Finding]
    checked_at: datetime
    archive_identity: str | None = None  # what a run will find at the archive root

    @property
    def needs_action(self) -> bool:
        return any(f.needs_action for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"checked_at": self.checked_at.isoformat(), "needs_action": self.needs_action,
                "places": self.places, "stages": self.stages,
                "archive_identity": self.archive_identity,
                "findings": [asdict(f) for f in self.findings]}


def diagnose(settings: Settings, ledger: Ledger, source: Source | None = None,
             now: datetime | None = None) -> DoctorReport:
    """The report; with `source`, its listing is compared with the ledger too."""
    return _Doctor(settings, ledger, now or datetime.now(UTC)).report(source)


class _Doctor:
    def __init__(self, settings: Settings, ledger: Ledger, now: datetime) -> None:
        self.settings, self.ledger, self.now = settings, ledger, now
        self.files = ledger.files_where()
        self.remote_archive = settings.sftp.archive is not None  # not a folder here
        self.archive_identity: str | None = None  # set when the archive folder is read
        places = [p for p in PLACES if not (p == "nas_archive" and self.remote_archive)]
        self.folders = {p: settings.resolve(getattr(settings.workflow, p)) for p in places}
        self.on_disk = {p: _files_under(folder) for p, folder in self.folders.items()}

    def report(self, source: Source | None) -> DoctorReport:
        findings = [*self._archive(), *self._copies(), *self._stuck(), *self._failed(),
                    self._superseded(), *self._unrecorded()]
        places = {p: None if files is None else len(files) for p, files in self.on_disk.items()}
        if source is not None:
            listed = list(source.list_assets())
            places = {"source": len(listed), **places}
            findings += self._source(source, listed)
        return DoctorReport(places=places, stages=self.ledger.counts_by_stage(),
                            findings=[f for f in findings if f.count], checked_at=self.now,
                            archive_identity=self.archive_identity)

    def _path(self, recorded: str | None) -> Path | None:
        return self.settings.resolve(Path(recorded)) if recorded else None

    def _gone(self, recorded: str | None) -> bool:
        path = self._path(recorded)
        return path is not None and not path.exists()

    # recorded but missing on disk ---------------------------------------------------------
    def _archive(self) -> list[Finding]:
        archived = [m for m in self.files if m.nas_path]
        if self.remote_archive:
            return [_finding("archive_not_checked", "nas_archive", False,
                             "the archive is on an SFTP server: its copies are not checked here",
                             "mediasync sftp check", archived, [])]
        folder = self.folders["nas_archive"]
        if archived and self.on_disk["nas_archive"] is None:
            return [_finding(
                "archive_unreachable", "nas_archive", True,
                f"the archive folder {folder} does not exist: is the NAS mounted?",
                f"mount the NAS at {folder} (or correct workflow.nas_archive), then "
                "`mediasync doctor`", archived, [str(folder)])]
        identity = self._identity(folder, archived) if self.on_disk["nas_archive"] is not None \
            else []
        missing = [m for m in archived if self._gone(m.nas_path)]
        restorable = [m for m in missing if self._local_copy(m)]
        lost = [m for m in missing if m not in restorable]
        return [
            *identity,
            _finding("archive_missing", "nas_archive", True,
                     "archive copies deleted, but a verified working or Pixel copy remains",
                     "mediasync doctor --fix archive_missing", restorable,
                     [m.nas_path or "" for m in restorable]),
            _finding("archive_lost", "nas_archive", True,
                     "archive copies deleted and no verified copy remains here",
                     "restore these paths from a backup, the phone or the source's recently"
                     " deleted items, then `mediasync doctor`", lost,
                     [m.nas_path or "" for m in lost]),
        ]

    def _identity(self, folder: Path, archived: list[MediaFile]) -> list[Finding]:
        """The archive's marker against the ledger's id: what the next run will say."""
        fine, said = archive_identity.status(self.ledger, NasArchive(folder))
        self.archive_identity = said
        if fine:
            return []
        return [_finding("archive_identity", "nas_archive", True, said,
                         f"mount the NAS at {folder} (or correct workflow.nas_archive); if"
                         " this folder is the archive, `mediasync nas init`", archived,
                         [str(folder)])]

    def _local_copy(self, media: MediaFile) -> Path | None:
        return intact_copy(media, [self._path(media.local_path), self._path(media.pixel_path)])

    def _copies(self) -> list[Finding]:
        """Working, Pixel and compressed copies that are gone: a problem or expected."""
        findings = []
        for copy in _COPIES:
            missing = [m for m in self.files if m.workflow_stage not in _GIVEN_UP
                       and self._gone(getattr(m, copy.column))]
            for needs_action, code, summary, fix in filter(None, (copy.matters, copy.expected)):
                files = [m for m in missing if copy.matters_for(m) == needs_action]
                findings.append(_finding(code, copy.place, needs_action, summary, fix, files,
                                         [getattr(m, copy.column) for m in files]))
        return findings

    # stuck and failed ----------------------------------------------------------------------
    def _stuck(self) -> list[Finding]:
        by_stage: dict[Stage, list[MediaFile]] = {}
        for media in self.files:
            if self._is_stuck(media):
                by_stage.setdefault(media.workflow_stage, []).append(media)
        return [_finding("stuck", stage.value, True,
                         f"files at {stage.value} for more than {self._limit(stage):g} h",
                         _STUCK_FIX.get(stage, "mediasync run"), files,
                         [m.label for m in files], dates=[m.updated_at for m in files])
                for stage, files in sorted(by_stage.items(), key=lambda i: _RANK[i[0]])]

    def _limit(self, stage: Stage) -> float:
        watch = self.settings.watch
        return watch.stuck_after_hours_by_stage.get(stage, watch.stuck_after_hours)

    def _is_stuck(self, media: MediaFile) -> bool:
        stage = media.workflow_stage
        if stage in _RESTING or media.updated_at is None:
            return False
        since = media.updated_at
        if stage == Stage.ICLOUD_DELETE_READY and media.captured_at is not None:
            # recent files wait on purpose: the keep-recent guard holds them back
            kept_until = media.captured_at + timedelta(days=self.settings.guards.keep_recent_days)
            since = max(since, kept_until)
        return self.now - since > timedelta(hours=self._limit(stage))

    def _failed(self) -> list[Finding]:
        by_reason: dict[str, list[MediaFile]] = {}
        for media in self.files:
            if media.workflow_stage == Stage.FAILED:
                by_reason.setdefault(failure_reason(media), []).append(media)
        return [_finding("failed", "ledger", True, f"failed: {reason}",
                         _LOCAL_FAULT_FIX if _retried_by_step_one(files[0]) else _FAILED_FIX,
                         files, [m.label for m in files], dates=[m.updated_at for m in files])
                for reason, files in sorted(by_reason.items(), key=lambda i: -len(i[1]))]

    # the source ---------------------------------------------------------------------------
    def _superseded(self) -> Finding:
        older = [m for m in self.files if m.superseded_at_source]
        return _finding("superseded_at_source", "source", False,
                        "older versions of files changed at the source since they were"
                        " downloaded: archived beside the newer version, never deleted at"
                        " the source", "none needed", older,
                        [f"{m.source_meta[SUPERSEDED].get('source_id', m.source_id)}: "
                         f"{m.nas_path or 'not archived yet'}" for m in older])

    def _source(self, source: Source, listed: list[SourceAsset]) -> list[Finding]:
        ours = [m for m in self.files if m.source == source.name
                and not m.superseded_at_source]  # their ids are no longer the source's
        recorded = {m.source_id for m in ours}
        new = [a for a in listed if a.source_id not in recorded]
        changed = _changed(source, ours, listed)
        present = {a.source_id for a in listed}
        # mediasync's own deletes: confirmed ones set source_deleted_at; an open intent
        # is a delete whose answer a killed run did not read
        deleting = {p.file_id for p in self.ledger.open_intents(source.name)}
        unanswered = [m for m in ours if m.id in deleting and m.source_deleted_at is None]
        gone = [m for m in ours if m.source_id not in present and m.source_deleted_at is None
                and m.workflow_stage not in _GIVEN_UP and m.id not in deleting]
        early = [m for m in gone if not m.nas_archived]
        return [
            _finding("delete_unconfirmed", "source", False,
                     "deleted by mediasync; the next run confirms it (a run was stopped"
                     " before it read the source's answer)", "mediasync run",
                     [m for m in unanswered if m.source_id not in present],
                     [m.label for m in unanswered if m.source_id not in present]),
            _finding("not_imported", "source", False, "at the source, not in the ledger yet",
                     "mediasync run", [], [a.source_id for a in new],
                     dates=[a.created for a in new]),
            _finding("changed_at_source", "source", False,
                     "changed at the source since they were downloaded: the next run takes"
                     " them in as new versions, beside the archived ones", "mediasync run",
                     changed, [m.label for m in changed]),
            _finding("gone_from_source", "source", True,
                     "removed at the source before being archived: the working copy is the"
                     " only one left", "mediasync run (now: it archives the working copy)",
                     early, [m.label for m in early]),
            _finding("removed_at_source", "source", False,
                     "removed at the source outside mediasync; the archive holds them",
                     "none needed", [m for m in gone if m.nas_archived],
                     [m.label for m in gone if m.nas_archived]),
            *_passed_over(source),
        ]

    # on disk but unrecorded -----------------------------------------------------------------
    def _unrecorded(self) -> list[Finding]:
        recorded = {str(path) for m in self.files
                    for path in map(self._path, (m.local_path, m.pixel_path, m.nas_path,
                                                 m.compressed_path)) if path}
        findings = []
        for place in [p for p in MEDIA_PLACES if p in self.on_disk]:
            strays = sorted(set(self.on_disk[place] or ()) - recorded)
            findings.append(_finding(
                "unrecorded", place, True,
                f"files in {place} that no ledger row knows", _UNRECORDED_FIX[place], [],
                strays, dates=[_mtime(p) for p in strays]))
        return findings


_GIVEN_UP = (Stage.FAILED, Stage.SKIPPED)  # reported as failed, or never meant to move
_Verdict = tuple[bool, str, str, str]  # needs action, code, summary, fix


@dataclass(frozen=True)
class _Copy:
    """A copy recorded in `column`; gone, it matters when `matters_for(file)`."""

    column: str
    place: str
    matters_for: Callable[[MediaFile], bool]
    matters: _Verdict | None  # None: never matters
    expected: _Verdict


_COPIES = (
    _Copy("local_path", "incoming", lambda m: not m.nas_archived,
          (True, "working_copy_missing", "working copies gone before the file was archived",
           "copy each file back to its recorded path (the source still holds it unless it"
           " says deleted), then `mediasync run`"),
          (False, "working_copy_gone",
           "working copies gone after archiving: expected, the archive holds them",
           "none needed")),
    _Copy("pixel_path", "pixel_sync", lambda m: m.workflow_stage == Stage.PIXEL_SYNC_READY,
          (True, "pixel_copy_missing",
           "Pixel folder entries gone before the phone was verified to hold them",
           "mediasync doctor --fix pixel_copy_missing"),
          (False, "pixel_copy_gone",
           "Pixel folder entries gone after verification: expected after the grace period",
           "none needed")),
    _Copy("compressed_path", "compressed", lambda m: False, None,
          (False, "compressed_missing",
           "compressed copies gone; the archive still holds the originals",
           "none needed (compress again by hand if you want them back)")),
)
_FAILED_FIX = ("fix the cause, then `mediasync doctor --fix failed` (each file goes back to"
               " the stage it failed at)")
_LOCAL_FAULT_FIX = ("a fault of this machine's disk, not of the files: fix the disk, then"
                    " `mediasync run` downloads them again")
_STUCK_FIX = {
    Stage.PIXEL_SYNC_READY: "start Syncthing and connect the phone, then `mediasync run`",
    Stage.ICLOUD_DELETE_READY: "review the manifest in icloud_delete/, then `mediasync run`",
}
_UNRECORDED_FIX = {
    "incoming": "left by an interrupted run: move them aside; `mediasync run` downloads"
                " again whatever it still needs",
    "pixel_sync": "review them; removing a file here also removes it from the phone",
    "processing": "left by an interrupted run: move them aside, then `mediasync run`",
    "nas_archive": "not placed by mediasync: move them out of the archive, or into the"
                   " source folder so that `mediasync run` imports them",
    "compressed": "not written by mediasync: move them out of the compressed folder",
}


def _changed(source: Source, ours: list[MediaFile],
             listed: list[SourceAsset]) -> list[MediaFile]:
    """Recorded files whose listed size or change tag differs from their downloaded
    version (as step 1 tells them, see pipeline/versions.py)."""
    tag = source.features.change_tag
    if tag is None:
        return []
    by_id = {m.source_id: m for m in ours if m.content_hash}
    changed = []
    for asset in listed:
        media = by_id.get(asset.source_id)
        if media is None:
            continue
        recorded = media.source_meta.get(tag)
        if signature_differs((media.size, None if recorded is None else str(recorded)),
                             asset.size, asset.extra.get(tag)):
            changed.append(media)
    return changed


def _passed_over(source: Source) -> list[Finding]:
    """What the source's listing met and does not import, one finding per reason."""
    if not isinstance(source, ListingNotes):
        return []
    by_reason: dict[str, list[str]] = {}
    for entry in source.passed_over:
        by_reason.setdefault(entry.reason, []).append(entry.path)
    return [_finding("passed_over", "source", "cannot be read" in reason,
                     f"not imported: {reason}", _passed_over_fix(reason), [], paths)
            for reason, paths in by_reason.items()]


def _passed_over_fix(reason: str) -> str:
    if "cannot be read" in reason:
        return "let the user running mediasync read it, then `mediasync run`"
    return _PASSED_OVER_FIX.get(reason.split(" (")[0], "none needed: not a photo or video")


_PASSED_OVER_FIX = {  # by reason without its details
    "hidden folder": "set source.include_hidden = true to import dot-folders",
    "symlink": "none needed; to import what it points to, copy that into the folder",
    "symlink to a folder": "none needed; to import that folder, move or copy it in",
}


def _retried_by_step_one(media: MediaFile) -> bool:
    """Failed downloading on a full or read-only working folder (before such faults
    halted the run): step 1 takes it again by itself once the disk is fixed."""
    return media.failed_stage is None and is_local_fault(media.error)


def intact_copy(media: MediaFile, candidates: Iterable[Path | None]) -> Path | None:
    """The first candidate whose bytes hash to the file's recorded hash."""
    for path in candidates:
        if path is not None and path.is_file() and media.content_hash \
                and sha256_file(path) == media.content_hash:
            return path
    return None


def failure_reason(media: MediaFile) -> str:
    """The error with this file's own name taken out, so that alike failures group."""
    reason = (media.error or "no reason recorded").replace(media.filename, "<file>")
    stage = media.failed_stage.value if media.failed_stage else "unknown stage"
    return f"{reason} (at {stage})"


def _files_under(folder: Path) -> set[str] | None:
    if not folder.is_dir():
        return None
    return {os.path.join(folder, rel) for rel, _, _ in walk_files(folder, [])}


def _mtime(path: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except OSError:
        return None


def _finding(code: str, place: str, needs_action: bool, summary: str, fix: str,
             files: list[MediaFile], examples: list[str],
             dates: Iterable[datetime | None] | None = None) -> Finding:
    if dates is None:
        dates = [m.captured_at or m.created_at for m in files]
    known = sorted(d for d in dates if d is not None)
    return Finding(code=code, place=place, needs_action=needs_action, summary=summary, fix=fix,
                   count=max(len(files), len(examples)),
                   first=known[0].date().isoformat() if known else None,
                   last=known[-1].date().isoformat() if known else None,
                   examples=examples[:MAX_EXAMPLES], file_ids=[m.id for m in files if m.id])
