"""The Ledger protocol: the one record of where every file is.

Backends (SQLite, Postgres, Supabase REST) share one schema and these semantics:
- `media_files` keyed by (source, source_id); a recorded file is never imported again.
- every stage change appends a row to `stage_events` in the same transaction.
- writes are batched: one call, one transaction, whatever the number of rows.
- `claim` hands each file to one worker at a time: a claim lasts until the file's next
  stage change, `release`, the end of the worker's session (process or connection), or
  the end of its lease.
  Steps use `mediasync.ledger.claims`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from mediasync.model import (
    FileNote,
    MediaFile,
    Signature,
    Stage,
    StageChange,
    StageEvent,
    SyncOperation,
)

TABLES = ("media_files", "stage_events", "source_deletions", "sync_operations",
          "file_records")
DEFAULT_LEASE_SECONDS = 3600.0


@dataclass
class FileRecord:
    """One row of `file_records`: a file under a watched root, as last seen."""

    root: str
    rel_path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    scan_generation: int
    updated_at: datetime | None = None


class DeletionState(StrEnum):
    """Where a source delete stands; its proof row is written before the source is asked."""

    INTENT = "intent"  # about to ask the source (or asked, and killed before the answer)
    CONFIRMED = "confirmed"  # the source's answer says the file is gone
    KEPT = "kept"  # not deleted: `answer` says why


@dataclass
class DeletionProof:
    """Why a source delete was allowed, kept for ever beside the file."""

    file_id: int
    source_id: str
    nas_path: str
    nas_hash: str
    pixel_version: str | None
    run_id: str | None
    deleted_at: datetime  # when the intent was written, then when it was closed
    source: str | None = None  # the ledger's `source` of the file
    state: DeletionState = DeletionState.CONFIRMED
    answer: str | None = None  # the source's word, when kept


def kept_error(answer: str | None) -> str:
    """The `error` of a file the source did not delete."""
    return f"not deleted at the source: {answer or 'no answer'}"


@dataclass(frozen=True)
class DeleteAnswer:
    """How an open intent closes: the file is gone at the source, or it is kept there."""

    file_id: int
    deleted: bool
    at: datetime
    answer: str | None = None  # why it is kept; also written to the file's `error`


@runtime_checkable
class Ledger(Protocol):
    backend: str  # "sqlite", "postgres", "supabase"

    def migrate(self) -> None:
        """Create or upgrade the schema. Idempotent."""
        ...

    def close(self) -> None: ...

    def schema_version(self) -> str | None:
        """The latest migration recorded in `schema_migrations`, None before any."""
        ...

    def table_counts(self) -> dict[str, int]:
        """Rows per table of TABLES."""
        ...

    # media_files --------------------------------------------------------------------
    def known_source_ids(self, source: str) -> set[str]: ...

    def source_signatures(self, source: str, tag: str) -> dict[str, Signature]:
        """source_id -> (size, source_meta[tag] as text, None when absent) of every file of
        `source` whose bytes were downloaded (a content hash is recorded): what step 1
        compares a listing with to notice files changed in place, in one query."""
        ...

    def get(self, file_id: int) -> MediaFile | None: ...

    def find(self, source: str, source_id: str) -> MediaFile | None: ...

    def add_files(self, files: Sequence[MediaFile], run_id: str | None) -> list[MediaFile]:
        """Insert new rows (and their first stage event); rows whose (source, source_id)
        exists already are left alone. Returns the inserted files with ids."""
        ...

    def files_at(self, stages: Iterable[Stage], limit: int | None = None,
                 source: str | None = None) -> list[MediaFile]:
        """Files at any of these stages, oldest first."""
        ...

    def files_where(self, **equals: Any) -> list[MediaFile]:
        """Files whose columns equal the given values (e.g. group_id="...")."""
        ...

    def apply(self, changes: Sequence[StageChange], run_id: str | None) -> None:
        """Move files to stages and update columns, all in one transaction; refuses the
        whole batch (IllegalTransition) if any move is not allowed. A stage change ends
        the file's claim."""
        ...

    def claim(self, stages: Iterable[Stage], limit: int, owner: str,
              lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[MediaFile]:
        """Take up to `limit` files at these stages, oldest first, that nobody holds (a
        claim older than `lease_seconds` has lapsed). Two workers never get the same
        file; files an owner holds already are not handed to it again."""
        ...

    def release(self, owner: str) -> int:
        """Drop the claims `owner` still holds; returns how many."""
        ...

    def update(self, file_id: int, run_id: str | None = None, **columns: Any) -> None:
        """Change columns without a stage change."""
        ...

    def note(self, notes: Sequence[FileNote], run_id: str | None) -> None:
        """Change columns of files without moving them, whatever their stage (a completed
        file too), each with a stage_events row from and to its current stage that says
        why; one transaction (SQLite, Postgres). The stage itself never changes here."""
        ...

    def counts_by_stage(self) -> dict[str, int]: ...

    def events(self, file_id: int) -> list[StageEvent]: ...

    def record_intents(self, proofs: Sequence[DeletionProof]) -> None:
        """Write these proofs as open intents (whatever their `state`), in one
        transaction, before the source is asked to delete the files."""
        ...

    def resolve_intents(self, answers: Sequence[DeleteAnswer]) -> None:
        """Close the files' open intents, in one transaction: a deleted file's proof is
        confirmed and its `source_deleted_at` set; a kept file's proof records the answer,
        and its `error` says "not deleted at the source: <answer>"."""
        ...

    def open_intents(self, source: str) -> list[DeletionProof]:
        """The intents of this source no answer has closed (a run was killed while it
        deleted), by an indexed lookup."""
        ...

    def deletions(self, file_id: int) -> list[DeletionProof]: ...

    # sync_operations ----------------------------------------------------------------
    def start_operation(self, op: SyncOperation) -> int: ...

    def finish_operation(self, op: SyncOperation) -> None: ...

    def recent_operations(self, limit: int = 10,
                          operation_type: str | None = None) -> list[SyncOperation]: ...

    # file_records (watch / reconcile) ------------------------------------------------
    def file_records(self, root: str) -> dict[str, FileRecord]: ...

    def file_signatures(self, root: str) -> dict[str, tuple[int, int]]:
        """rel_path -> (size, mtime_ns) for every record of `root`: what a scan compares
        against, without building one object per file."""
        ...

    def touch_file_records(self, root: str, rel_paths: Sequence[str], generation: int) -> None:
        """Mark unchanged records of `root` as seen in scan `generation`."""
        ...

    def upsert_file_records(self, records: Sequence[FileRecord]) -> None: ...

    def delete_file_records(self, root: str, rel_paths: Sequence[str]) -> None: ...

    def delete_stale_file_records(self, root: str, generation: int) -> int:
        """Drop the records of `root` last seen before scan `generation` (a record the
        watcher wrote during the pass stays); returns how many."""
        ...
