"""The ledger's vocabulary: stages, the file record, and what steps report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from mediasync.errors import IllegalTransition


class Stage(StrEnum):
    DOWNLOADED = "downloaded"
    PIXEL_SYNC_READY = "pixel_sync_ready"
    PIXEL_VERIFIED = "pixel_verified"
    NAS_ARCHIVED = "nas_archived"
    PROCESSING_READY = "processing_ready"
    COMPRESSED = "compressed"
    ICLOUD_DELETE_READY = "icloud_delete_ready"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


PIPELINE_ORDER: tuple[Stage, ...] = (
    Stage.DOWNLOADED,
    Stage.PIXEL_SYNC_READY,
    Stage.PIXEL_VERIFIED,
    Stage.NAS_ARCHIVED,
    Stage.PROCESSING_READY,
    Stage.COMPRESSED,
    Stage.ICLOUD_DELETE_READY,
    Stage.COMPLETED,
)
_RANK = {stage: i for i, stage in enumerate(PIPELINE_ORDER)}
# A file waiting to be deleted at the source (or kept there for now) whose archived or
# Pixel copy is found lost or changed when step 7 proves it again: back to where step 4
# archives it or step 2 places it, or to failed so that step 1 downloads it again.
_PROVEN_AGAIN = (Stage.ICLOUD_DELETE_READY, Stage.COMPLETED)
_REARCHIVE = (Stage.DOWNLOADED, Stage.PIXEL_VERIFIED, Stage.FAILED)

# source_meta key a source fills at listing: the parts of the asset it holds that
# mediasync does not archive (an edit, a RAW's JPEG); the deletion gate keeps such files
UNARCHIVED_PARTS = "unarchived_parts"


def can_move(current: Stage | None, target: Stage) -> bool:
    """The state machine: forward along the pipeline, out to failed/skipped, and a failed
    file back to any stage for a retry. Pixel stages may be jumped over (Pixel sync off).
    The one way back from the end: an archived copy lost before the source deleted it."""
    if current is None:
        return target in (Stage.DOWNLOADED, Stage.FAILED, Stage.SKIPPED)
    if current in _PROVEN_AGAIN and target in _REARCHIVE:
        return True
    if current == target:
        return current not in (Stage.COMPLETED, Stage.SKIPPED)
    if current in (Stage.COMPLETED, Stage.SKIPPED):
        return False
    if target in (Stage.FAILED, Stage.SKIPPED):
        return True
    if current == Stage.FAILED:
        return True
    return _RANK[target] > _RANK[current]


def check_move(current: Stage | None, target: Stage, subject: str) -> None:
    if not can_move(current, target):
        raise IllegalTransition(f"{subject}: stage {current} cannot move to {target}")


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    SIDECAR = "sidecar"
    OTHER = "other"


@dataclass
class SourceAsset:
    """One item as the source lists it, before anything is downloaded."""

    source_id: str
    filename: str
    size: int | None
    created: datetime | None = None
    media_type: MediaType = MediaType.OTHER
    favorite: bool = False
    group_id: str | None = None  # files that travel and are deleted together (live photos)
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific (change tag, URL)


@dataclass
class MediaFile:
    """One row of `media_files`."""

    source: str
    source_id: str
    filename: str
    workflow_stage: Stage = Stage.DOWNLOADED
    id: int | None = None
    size: int | None = None
    content_hash: str | None = None
    captured_at: datetime | None = None
    media_type: MediaType = MediaType.OTHER
    favorite: bool = False
    group_id: str | None = None
    local_path: str | None = None  # current working copy
    pixel_path: str | None = None
    nas_path: str | None = None
    nas_hash: str | None = None  # hash of the archived copy, re-read after fsync
    compressed_path: str | None = None
    pixel_synced: bool = False
    pixel_version: str | None = None  # Syncthing version the device was seen holding
    nas_archived: bool = False
    compressed: bool = False
    icloud_delete_ready: bool = False
    compression_metadata: dict[str, Any] | None = None
    media_metadata: dict[str, Any] | None = None
    source_meta: dict[str, Any] = field(default_factory=dict)
    failed_stage: Stage | None = None  # the stage a failed file was at
    error: str | None = None
    attempts: int = 0
    source_deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"{self.filename} ({self.source_id})"

    @property
    def working_path(self) -> Path | None:
        return Path(self.local_path) if self.local_path else None

    @property
    def superseded_at_source(self) -> bool:
        """An older version of a file changed in place at the source: its bytes there are
        gone, so it is never deleted at the source (see pipeline/versions.py)."""
        return SUPERSEDED in self.source_meta


SUPERSEDED = "superseded_at_source"  # source_meta key of a retired version
# (size, change tag as text) of a file's downloaded version, as the ledger recorded it
Signature = tuple[int | None, str | None]


def signature_differs(recorded: Signature, size: int | None, tag: object) -> bool:
    """Whether a listing's size and change tag show other bytes than those recorded.
    Rows recorded before change tags were kept compare by size alone: adopting the
    listed tag on first sight would cost a write per old row, and would take an edit made
    before then for the original all the same."""
    recorded_size, recorded_tag = recorded
    if size is not None and recorded_size is not None and size != recorded_size:
        return True
    return recorded_tag is not None and tag is not None and str(tag) != recorded_tag


@dataclass
class StageChange:
    """One file moving to a stage, with the columns that change beside it."""

    file_id: int
    to_stage: Stage
    updates: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None


@dataclass
class FileNote:
    """A fact about a file that changes columns but not its stage, whatever the stage (a
    completed file too), kept as a stage_events row from and to its current stage."""

    file_id: int
    updates: dict[str, Any]
    detail: str


@dataclass
class StageEvent:
    file_id: int
    from_stage: Stage | None
    to_stage: Stage
    run_id: str | None
    at: datetime
    detail: str | None


@dataclass
class SyncOperation:
    """One row of `sync_operations`: what a run or pass did."""

    operation_type: str
    status: str
    run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    files_scanned: int = 0
    files_added: int = 0
    files_updated: int = 0
    files_removed: int = 0
    files_failed: int = 0
    error: str | None = None
    detail: dict[str, Any] | None = None
    id: int | None = None
