"""The one gate every source delete passes (README, "Safety").

Pure: it reads MediaFiles, settings and what the run saw of the source, and decides per
file; it never touches the ledger or the network. Dry run lives here, not in twin
functions. A file is allowed only when every gate passes:

    source delete enabled · not a dry run · no circuit breaker tripped
    not a version superseded at the source (its bytes there are gone)
    NAS copy recorded and its re-read hash equal to the downloaded bytes' hash
    every part the asset holds at the source is archived (an edit, a RAW's JPEG, ...)
    Pixel holds that exact version (when Pixel sync is on)
    not a favourite (guards.skip_favorites) · older than guards.keep_recent_days
    within guards.max_deletes_per_run (counted in source assets, oldest first)

and every member of its group (a live photo's image and MOV) passes as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mediasync.errors import UnsafeDelete
from mediasync.ledger.base import DeleteAnswer, DeletionProof, DeletionState
from mediasync.model import UNARCHIVED_PARTS, MediaFile, Stage
from mediasync.settings import DeleteGuards, Settings
from mediasync.sources.base import DeleteOutcome

MAX_THROTTLED = 3  # 503/429 answers in a run after which nothing is deleted
_PART_REASONS = {
    "edit": "edited at the source (in Photos): the edit is not archived yet",
    "alternative original": "has an alternative original (RAW+JPEG) that is not archived",
}


@dataclass(frozen=True)
class SourceSignals:
    """What this run saw of the source, for the circuit breaker."""

    asset_count: int | None = None  # assets the source holds now
    previous_count: int | None = None  # ... and at the last run
    throttled: int = 0  # 503/429 answers so far this run
    session_in_doubt: bool = False
    shrink_accepted: bool = False  # a person said the shrink is real (--accept-shrink)


@dataclass(frozen=True)
class DeletePolicy:
    enabled: bool
    dry_run: bool
    pixel_required: bool
    guards: DeleteGuards
    now: datetime

    @classmethod
    def from_settings(cls, settings: Settings, dry_run: bool,
                      now: datetime | None = None) -> DeletePolicy:
        return cls(enabled=deletion_enabled(settings), dry_run=dry_run,
                   pixel_required=settings.pixel_enabled, guards=settings.guards,
                   now=now or datetime.now(UTC))


@dataclass(frozen=True)
class Decision:
    file: MediaFile
    allowed: bool
    reason: str | None = None  # why not, when not


def deletion_enabled(settings: Settings) -> bool:
    """iCloud has its own switch (`icloud.delete`); other sources use `source.delete`."""
    if settings.source.kind == "icloud":
        return settings.icloud.delete
    return settings.source.delete


def decide(files: Sequence[MediaFile], policy: DeletePolicy,
           signals: SourceSignals = SourceSignals()) -> list[Decision]:
    """One decision per file, in the order given."""
    refusal = run_refusal(policy, signals)
    if refusal is not None:
        return [Decision(f, False, refusal) for f in files]
    reasons = {id(f): file_refusal(f, policy) for f in files}
    _refuse_incomplete_groups(files, reasons)
    _apply_cap(files, reasons, policy.guards.max_deletes_per_run)
    return [Decision(f, reasons[id(f)] is None, reasons[id(f)]) for f in files]


def run_refusal(policy: DeletePolicy, signals: SourceSignals) -> str | None:
    """A reason that refuses every delete of the run, or None."""
    if not policy.enabled:
        return "source deletion is off"
    if policy.dry_run:
        return "dry run"
    return breaker(signals, policy.guards.max_source_shrink)


def breaker(signals: SourceSignals, max_shrink: float) -> str | None:
    """The circuit breaker: the source looks wrong, so nothing is deleted."""
    if signals.session_in_doubt:
        return "circuit breaker: the source session is in doubt"
    if signals.throttled >= MAX_THROTTLED:
        return f"circuit breaker: the source answered 503/429 {signals.throttled} times"
    if shrank(signals, max_shrink) and not signals.shrink_accepted:
        return (f"circuit breaker: the source shrank from {signals.previous_count} to "
                f"{signals.asset_count} assets (if that is right, run once with "
                f"--accept-shrink)")
    return None


def shrank(signals: SourceSignals, max_shrink: float) -> bool:
    """The source holds far fewer assets than the last count a run accepted."""
    now, before = signals.asset_count, signals.previous_count
    if now is None or not before:
        return False
    return now < before * (1 - max_shrink)


def file_refusal(file: MediaFile, policy: DeletePolicy) -> str | None:
    """Why this one file may not be deleted (its group aside), or None."""
    for gate in (_not_done, _not_superseded, _nas_proven, _whole_asset_archived,
                 _pixel_proven, _not_favorite, _old_enough):
        reason = gate(file, policy)
        if reason is not None:
            return reason
    return None


def _not_done(file: MediaFile, policy: DeletePolicy) -> str | None:
    if file.source_deleted_at is not None:
        return "already deleted at the source"
    if file.workflow_stage in (Stage.FAILED, Stage.SKIPPED):
        return f"file is {file.workflow_stage}"
    return None


def _not_superseded(file: MediaFile, policy: DeletePolicy) -> str | None:
    # what the source holds under this id now are a newer version's bytes, which this
    # row never proved; that version is deleted, once proven, by its own row
    if file.superseded_at_source:
        return "superseded by a newer version at the source"
    return None


def _nas_proven(file: MediaFile, policy: DeletePolicy) -> str | None:
    if not (file.nas_archived and file.nas_path and file.nas_hash):
        return "NAS copy not verified"
    if not file.content_hash or file.size is None:
        return "downloaded bytes not recorded"
    if file.nas_hash != file.content_hash:
        return "NAS copy hash differs from the downloaded bytes"
    return None


def _whole_asset_archived(file: MediaFile, policy: DeletePolicy) -> str | None:
    return unarchived_reason(file)


def unarchived_reason(file: MediaFile) -> str | None:
    """The source deletes whole assets: one holding a part mediasync did not archive
    (the listing names them in source_meta) would lose that part with it."""
    parts = file.source_meta.get(UNARCHIVED_PARTS) or []
    if not parts:
        return None
    return "; ".join(_PART_REASONS.get(part, f"holds a {part} that is not archived")
                     for part in parts)


def _pixel_proven(file: MediaFile, policy: DeletePolicy) -> str | None:
    if policy.pixel_required and not (file.pixel_synced and file.pixel_version):
        return "Pixel has not been seen holding this version"
    return None


def _not_favorite(file: MediaFile, policy: DeletePolicy) -> str | None:
    if policy.guards.skip_favorites and file.favorite:
        return "favourite"
    return None


def _old_enough(file: MediaFile, policy: DeletePolicy) -> str | None:
    days = policy.guards.keep_recent_days
    if days == 0:
        return None
    # capture time, else when the ledger first saw it (later, so the safer side)
    when = file.captured_at or file.created_at
    if when is None:
        return "capture time unknown"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when > policy.now - timedelta(days=days):
        return f"newer than keep_recent_days ({days})"
    return None


def _refuse_incomplete_groups(files: Sequence[MediaFile],
                              reasons: dict[int, str | None]) -> None:
    for members in _groups(files).values():
        refused = [reasons[id(m)] for m in members if reasons[id(m)] is not None]
        expected = max(int(m.source_meta.get("group_size", 1)) for m in members)
        if not refused and len(members) < expected:
            refused = [f"only {len(members)} of the {expected} files of its group are here"]
        for member in members:
            if refused and reasons[id(member)] is None:
                reasons[id(member)] = f"its group is not ready: {refused[0]}"


def _apply_cap(files: Sequence[MediaFile], reasons: dict[int, str | None], cap: int) -> None:
    """Allow at most `cap` source assets (a group counts once), oldest first."""
    units = [m for m in _groups(files).values() if reasons[id(m[0])] is None]
    units.sort(key=lambda m: (_age_key(m[0]), m[0].source_id))
    for members in units[cap:]:
        for member in members:
            reasons[id(member)] = f"over max_deletes_per_run ({cap})"


def _age_key(file: MediaFile) -> datetime:
    when = file.captured_at or file.created_at or datetime.max.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def delete_batches(files: Sequence[MediaFile], size: int) -> Iterator[list[MediaFile]]:
    """`files` in batches of about `size`, a group never split between two batches."""
    batch: list[MediaFile] = []
    for members in _groups(files).values():
        if batch and len(batch) + len(members) > size:
            yield batch
            batch = []
        batch += members
    if batch:
        yield batch


def _groups(files: Iterable[MediaFile]) -> dict[str, list[MediaFile]]:
    """Files that are deleted together; a file without a group is its own."""
    groups: dict[str, list[MediaFile]] = {}
    for file in files:
        key = f"group:{file.group_id}" if file.group_id else f"file:{file.source_id}"
        groups.setdefault(key, []).append(file)
    return groups


def intents(files: Iterable[MediaFile], run_id: str | None,
            at: datetime | None = None) -> list[DeletionProof]:
    """The proof rows written, as intents, before the source is asked to delete `files`."""
    when = at or datetime.now(UTC)
    return [_proof(file, run_id, when) for file in files]


def answers(files: Iterable[MediaFile], outcomes: Iterable[DeleteOutcome],
            at: datetime | None = None) -> list[DeleteAnswer]:
    """How each file's intent closes: only an outcome that says deleted confirms it; a
    file the source said nothing about is kept."""
    by_id = {o.source_id: o for o in outcomes}
    when = at or datetime.now(UTC)
    result = []
    for file in files:
        assert file.id is not None  # _proof refused it before the source was asked
        outcome = by_id.get(file.source_id)
        if outcome is None:
            result.append(DeleteAnswer(file.id, False, when, "the source did not answer for it"))
        else:
            result.append(DeleteAnswer(file.id, outcome.deleted, when,
                                       None if outcome.deleted else outcome.reason))
    return result


def _proof(file: MediaFile, run_id: str | None, when: datetime) -> DeletionProof:
    if file.id is None or not file.nas_path or not file.nas_hash:
        raise UnsafeDelete(f"{file.label}: no ledger id or NAS proof to record",
                           subject=file.source_id)
    return DeletionProof(file_id=file.id, source_id=file.source_id, nas_path=file.nas_path,
                         nas_hash=file.nas_hash, pixel_version=file.pixel_version,
                         run_id=run_id, deleted_at=when, source=file.source,
                         state=DeletionState.INTENT)
