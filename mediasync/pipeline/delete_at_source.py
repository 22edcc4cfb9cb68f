"""Step 7's deleting half: files proven safe go through the deletion gate, the source
deletes what it allows, and each deletion leaves its proof in the ledger.

Deletes go in batches: each batch's proof rows are committed as intents before the
source is asked, and closed from its answers after (interrupted_deletes.py closes what
a killed run left open). Candidates are all files of this source that were proven safe
and are not deleted yet, also those completed in earlier runs: a file kept for
keep_recent_days is deleted by the first run after it has aged.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

from mediasync.model import MediaFile, Stage, SyncOperation
from mediasync.pipeline.common import last_operation, plan_row
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pipeline.delete_proof import DeleteTimeProof
from mediasync.pipeline.deletion import (
    Decision,
    DeletePolicy,
    SourceSignals,
    answers,
    decide,
    delete_batches,
    intents,
    shrank,
    unarchived_reason,
)
from mediasync.pipeline.interrupted_deletes import Interrupted, resolve_interrupted
from mediasync.sources.base import DeleteOutcome, SourceHealth

COUNT_OPERATION = "source_count"  # sync_operations rows the shrink breaker compares
# files per intents -> delete -> answers round: one ledger transaction each side, and at
# most this many intents for the next run to resolve after a kill
DELETE_BATCH = 100


def delete_proven(ctx: RunContext, report: StepReport) -> str:
    """Delete what the gate allows; returns a sentence for the step's message."""
    interrupted = Interrupted() if ctx.dry_run else resolve_interrupted(ctx)
    done = _delete_allowed(ctx, report, blocked=interrupted.left_open > 0)
    before = interrupted.sentence()
    return f"{before}; {done}" if before else done


def _delete_allowed(ctx: RunContext, report: StepReport, blocked: bool) -> str:
    policy = DeletePolicy.from_settings(ctx.settings, ctx.dry_run)
    if not policy.enabled or not ctx.source.features.can_delete:
        return "source deletion is off"
    if blocked:
        return "nothing deleted at the source"
    candidates = _candidates(ctx)
    if not candidates:
        return "nothing to delete at the source"
    signals = _signals(ctx)
    decisions = decide(candidates, dataclasses.replace(policy, dry_run=False), signals)
    allowed = [d.file for d in decisions if d.allowed]
    with DeleteTimeProof(ctx) as proof:  # the archive is the archive, or nothing goes
        if ctx.dry_run:
            allowed = proof.keep_proven(allowed)
            proven = {id(m) for m in allowed}
            report.planned += [_plan(d) for d in decisions
                               if not d.allowed or id(d.file) in proven]
            report.planned += proof.planned
            return f"would delete {len(allowed)} files at the source"
        _note_partly_archived(ctx, candidates)
        outcomes: list[DeleteOutcome] = []
        for batch in delete_batches(allowed, DELETE_BATCH):
            outcomes += _delete_batch(ctx, proof.keep_proven(batch))
    if signals.asset_count is not None and (
            signals.shrink_accepted or not shrank(signals, policy.guards.max_source_shrink)):
        # our own deletes are no shrink: the next run compares with what is left
        _record_count(ctx, signals.asset_count - _assets_deleted(allowed, outcomes), signals)
    deleted = sum(o.deleted for o in outcomes)
    kept = [d.reason for d in decisions if not d.allowed] + proof.kept + \
        [o.reason for o in outcomes if not o.deleted]
    return f"deleted {deleted} at the source" + (f"; kept {_tally(kept)}" if kept else "")


def _delete_batch(ctx: RunContext, batch: Sequence[MediaFile]) -> list[DeleteOutcome]:
    """Intents committed, then the source asked, then its answers committed: a kill at
    any point leaves each file's proof row, which the next run resolves."""
    if not batch:  # every file of it failed the proof made just now
        return []
    ctx.ledger.record_intents(intents(batch, ctx.run_id))
    outcomes = ctx.source.delete(batch)
    ctx.ledger.resolve_intents(answers(batch, outcomes))
    return outcomes


def _candidates(ctx: RunContext) -> list[MediaFile]:
    ready = ctx.ledger.files_at([Stage.ICLOUD_DELETE_READY, Stage.COMPLETED],
                                source=ctx.source.name)
    return [m for m in ready if m.icloud_delete_ready and m.source_deleted_at is None]


def _signals(ctx: RunContext) -> SourceSignals:
    source = ctx.source
    if not isinstance(source, SourceHealth):
        return SourceSignals()
    return SourceSignals(asset_count=source.count_assets(), previous_count=_previous_count(ctx),
                         throttled=source.throttled, shrink_accepted=ctx.accept_shrink)


def _record_count(ctx: RunContext, count: int, signals: SourceSignals) -> None:
    """The next run's baseline. A count that tripped the breaker is never one: it becomes
    the baseline only once a person accepts the shrink, and that acceptance is kept."""
    operation = SyncOperation(operation_type=COUNT_OPERATION, status="running",
                              run_id=ctx.run_id)
    ctx.ledger.start_operation(operation)
    operation.status, operation.files_scanned = "completed", count
    operation.detail = {"source": ctx.source.name}
    if signals.shrink_accepted and signals.previous_count is not None:
        operation.detail["shrink_accepted_from"] = signals.previous_count
    ctx.ledger.finish_operation(operation)


def _assets_deleted(files: Sequence[MediaFile], outcomes: Sequence[DeleteOutcome]) -> int:
    """Source assets gone: a live photo's two files are one asset."""
    deleted = {o.source_id for o in outcomes if o.deleted}
    return len({m.group_id or m.source_id for m in files if m.source_id in deleted})


def _previous_count(ctx: RunContext) -> int | None:
    operation = last_operation(ctx, COUNT_OPERATION, look_back=20)
    return operation.files_scanned if operation is not None else None


def _note_partly_archived(ctx: RunContext, files: Sequence[MediaFile]) -> None:
    """An asset holding parts at the source that are not archived (an edit, a RAW's
    JPEG) stays there until they are: the ledger says why, written once per file."""
    for media in files:
        reason = unarchived_reason(media)
        error = f"kept at the source: {reason}"
        if reason is not None and media.id is not None and media.error != error:
            ctx.ledger.update(media.id, ctx.run_id, error=error)


def _plan(decision: Decision) -> dict[str, Any]:
    return plan_row(decision.file, "delete at the source" if decision.allowed
                    else f"keep at the source: {decision.reason}")


def _tally(reasons: list[str | None]) -> str:
    counts = Counter(reason or "unknown" for reason in reasons)
    return ", ".join(f"{n} ({reason})" for reason, n in counts.most_common())
