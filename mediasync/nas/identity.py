"""The archive is the archive: a marker file with a random id at the archive's root,
recorded in the ledger at first use, and checked before anything is written to the
archive or deleted at a source.

An unmounted NAS often leaves its empty mount point behind; a share renamed away leaves
nothing. Both look like an archive that lost files, and a run that wrote there or trusted
earlier proofs would lose the owner's files. The marker tells them apart from the archive.

The id is kept in `sync_operations` (operation type `archive_identity`, detail
{"id", "root"}): the newest such row is the archive this ledger knows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from mediasync.errors import ArchiveError
from mediasync.ledger.base import Ledger
from mediasync.model import PIPELINE_ORDER, Stage, SyncOperation
from mediasync.nas.archive import MARKER_NAME, ArchiveTarget

IDENTITY_OPERATION = "archive_identity"
_MARKER_HEADER = "mediasync archive id: "
# stages at which a file has a copy in the archive
_ARCHIVED_STAGES = PIPELINE_ORDER[PIPELINE_ORDER.index(Stage.NAS_ARCHIVED):]


@dataclass(frozen=True)
class Identity:
    id: str
    root: str


def recorded(ledger: Ledger) -> Identity | None:
    """The archive identity the ledger knows, None before first use."""
    for operation in ledger.recent_operations(1, IDENTITY_OPERATION):
        detail = operation.detail or {}
        if detail.get("id"):
            return Identity(str(detail["id"]), str(detail.get("root", "")))
    return None


def marker_id(archive: ArchiveTarget) -> str | None:
    """The id in the archive's marker; None without a marker; "" for a marker that is
    not one of ours."""
    text = archive.read_marker()
    if text is None:
        return None
    first = text.splitlines()[0] if text else ""
    return first[len(_MARKER_HEADER):].strip() if first.startswith(_MARKER_HEADER) else ""


def not_the_archive(expected: str, archive: ArchiveTarget, found: str) -> ArchiveError:
    return ArchiveError(f"NAS not mounted or not the archive (expected id {expected}):"
                        f" {archive.root} {found}")


def ensure(ledger: Ledger, archive: ArchiveTarget, run_id: str | None,
           dry_run: bool = False) -> str:
    """Halt (ArchiveError) unless `archive` is the one this ledger knows. At first use (no
    id recorded, nothing archived yet, an empty root) mark it and record the id; a dry
    run only says it would. Returns a sentence for the step's message."""
    known = recorded(ledger)
    if known is None:
        try:
            return _first_use(ledger, archive, run_id, dry_run)
        except ArchiveError:
            known = recorded(ledger)  # a worker started at the same time was first
            if known is None:
                raise
    check_matches(known, archive)
    return f"archive id {known.id}"


def _first_use(ledger: Ledger, archive: ArchiveTarget, run_id: str | None,
               dry_run: bool) -> str:
    if not archive.root_exists():
        raise ArchiveError(f"NAS archive {archive.root} does not exist (is the NAS mounted?)")
    found = marker_id(archive)
    if archive.holds_files():
        raise ArchiveError(f"{archive.root} holds files but the ledger knows no archive there;"
                           " if it is the archive, run `mediasync nas init`")
    if found is None and _ledger_has_archived(ledger):
        raise ArchiveError(f"{archive.root} is empty, without {MARKER_NAME}, but the ledger"
                           " records archived files: NAS not mounted? if it is the archive,"
                           " run `mediasync nas init`")
    if not found:
        if found == "":
            raise ArchiveError(f"{archive.root}/{MARKER_NAME} is not a mediasync marker")
        if dry_run:
            return f"would mark {archive.root} as the archive"
        found = write_marker(archive)
    if dry_run:
        return f"would record archive id {found}"
    record(ledger, archive, found, run_id)
    return f"archive id {found} (first use)"


def check_matches(known: Identity, archive: ArchiveTarget) -> None:
    """Halt unless the archive's marker holds the recorded id."""
    if not archive.root_exists():
        raise not_the_archive(known.id, archive, "does not exist")
    found = marker_id(archive)
    if found is None:
        raise not_the_archive(known.id, archive, f"has no {MARKER_NAME}")
    if found != known.id:
        raise not_the_archive(known.id, archive, f"holds id {found or 'unreadable'}")


def write_marker(archive: ArchiveTarget, archive_id: str | None = None) -> str:
    """Write a marker (with a new id unless one is given) where there is none; returns
    the id the marker holds then (another run's, when it was first)."""
    archive.write_marker(f"{_MARKER_HEADER}{archive_id or secrets.token_hex(16)}\n"
                         "This folder is a mediasync archive. Keep this file: without it"
                         " mediasync neither archives here nor deletes at the source.\n")
    found = marker_id(archive)
    if not found:
        raise ArchiveError(f"{archive.root}: the {MARKER_NAME} just written cannot be read")
    return found


def record(ledger: Ledger, archive: ArchiveTarget, archive_id: str,
           run_id: str | None) -> None:
    operation = SyncOperation(operation_type=IDENTITY_OPERATION, status="running",
                              run_id=run_id)
    ledger.start_operation(operation)
    operation.status = "completed"
    operation.detail = {"id": archive_id, "root": str(archive.root)}
    ledger.finish_operation(operation)


def _ledger_has_archived(ledger: Ledger) -> bool:
    counts = ledger.counts_by_stage()
    return any(counts.get(stage.value, 0) for stage in _ARCHIVED_STAGES)


def init(ledger: Ledger, archive: ArchiveTarget, run_id: str | None,
         force: bool = False) -> str:
    """`mediasync nas init`: make this root the ledger's archive. A marker already there
    is adopted; a marker or a recorded id that disagree need `force`."""
    known = recorded(ledger)
    if not archive.root_exists():
        raise ArchiveError(f"NAS archive {archive.root} does not exist (is the NAS mounted?)")
    found = marker_id(archive)
    if known is not None and found == known.id:
        return f"{archive.root} is already the archive (id {found})"
    if known is not None and not force:
        what = f"is marked as archive {found}" if found else (
            f"has no {MARKER_NAME}" if found is None else f"has a foreign {MARKER_NAME}")
        raise ArchiveError(f"{archive.root} {what}, but the ledger knows archive {known.id};"
                           " if this really is the archive, run again with --force")
    if found:
        record(ledger, archive, found, run_id)
        return f"recorded the archive id {found} found in {archive.root}"
    if found == "":
        raise ArchiveError(f"{archive.root}/{MARKER_NAME} is not a mediasync marker;"
                           " move it away if this folder is the archive")
    archive_id = write_marker(archive, known.id if known is not None else None)
    if known is None:
        record(ledger, archive, archive_id, run_id)
    return f"marked {archive.root} as the archive (id {archive_id})"


def status(ledger: Ledger, archive: ArchiveTarget) -> tuple[bool, str]:
    """What the next run will find, without writing anything: (fine, one sentence)."""
    try:
        return True, ensure(ledger, archive, None, dry_run=True)
    except ArchiveError as exc:
        return False, str(exc)
