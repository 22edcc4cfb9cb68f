"""How MediaFile fields map to ledger columns, shared by every backend."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from mediasync.ledger.base import DeletionProof, DeletionState, FileRecord
from mediasync.model import MediaFile, MediaType, Stage, StageEvent, SyncOperation

MEDIA_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(MediaFile))
JSON_COLUMNS = frozenset({"compression_metadata", "media_metadata", "source_meta"})
BOOL_COLUMNS = frozenset({"favorite", "pixel_synced", "nas_archived", "compressed",
                          "icloud_delete_ready"})
TIME_COLUMNS = frozenset({"captured_at", "source_deleted_at", "created_at", "updated_at"})
OPERATION_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SyncOperation))


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_text_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def from_text_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def check_columns(names: Any) -> None:
    unknown = set(names) - set(MEDIA_COLUMNS)
    if unknown:
        raise ValueError(f"unknown media_files columns: {sorted(unknown)}")


def encode_text(column: str, value: Any) -> Any:
    """A value as a text-typed store (SQLite) keeps it."""
    if value is None:
        return None
    if column in JSON_COLUMNS:
        return json.dumps(value, sort_keys=True, default=str)
    if column in TIME_COLUMNS:
        return to_text_time(value)
    if column in BOOL_COLUMNS:
        return int(bool(value))
    return value


def decode_row(row: dict[str, Any]) -> MediaFile:
    values: dict[str, Any] = {}
    for column in MEDIA_COLUMNS:
        value = row.get(column)
        if column in JSON_COLUMNS and isinstance(value, str):
            value = json.loads(value)
        elif column in TIME_COLUMNS:
            value = from_text_time(value)
        elif column in BOOL_COLUMNS:
            value = bool(value)
        values[column] = value
    values["workflow_stage"] = Stage(values["workflow_stage"])
    values["media_type"] = MediaType(values["media_type"] or "other")
    if values["failed_stage"]:
        values["failed_stage"] = Stage(values["failed_stage"])
    values["source_meta"] = values["source_meta"] or {}
    values["attempts"] = values["attempts"] or 0
    return MediaFile(**values)


def decode_event(row: dict[str, Any]) -> StageEvent:
    return StageEvent(file_id=row["file_id"],
                      from_stage=Stage(row["from_stage"]) if row["from_stage"] else None,
                      to_stage=Stage(row["to_stage"]), run_id=row["run_id"],
                      at=from_text_time(row["at"]), detail=row["detail"])  # type: ignore[arg-type]


def decode_deletion(row: dict[str, Any]) -> DeletionProof:
    return DeletionProof(file_id=row["file_id"], source_id=row["source_id"],
                         nas_path=row["nas_path"], nas_hash=row["nas_hash"],
                         pixel_version=row["pixel_version"], run_id=row["run_id"],
                         deleted_at=from_text_time(row["deleted_at"]),  # type: ignore[arg-type]
                         source=row["source"], state=DeletionState(row["state"]),
                         answer=row["answer"])


def decode_operation(row: dict[str, Any]) -> SyncOperation:
    values = {c: row[c] for c in OPERATION_COLUMNS}
    values["started_at"] = from_text_time(values["started_at"])
    values["finished_at"] = from_text_time(values["finished_at"])
    if isinstance(values["detail"], str):
        values["detail"] = json.loads(values["detail"])
    return SyncOperation(**values)


def decode_file_record(row: dict[str, Any]) -> FileRecord:
    return FileRecord(root=row["root"], rel_path=row["rel_path"], size=row["size"],
                      mtime_ns=row["mtime_ns"], content_hash=row["content_hash"],
                      scan_generation=row["scan_generation"],
                      updated_at=from_text_time(row["updated_at"]))
