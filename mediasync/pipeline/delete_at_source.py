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

from mediasync.deletion import (
    Decision,
    DeletePolicy,
    SourceSignals,
    answers,
    decide,
    delete_batches,
    intents,
)
from mediasync.model import MediaFile, Stage, SyncOperation
from mediasync.pipeline.common import last_operation, plan_row
from mediasync.pipeline.context import RunContext, StepReport
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
    if ctx.dry_run:
        report.planned += [_plan(d) for d in decisions]
        return f"would delete {sum(d.allowed for d in decisions)} files at the source"
    allowed = [d.file for d in decisions if d.allowed]
    outcomes: list[DeleteOutcome] = []
    for batch in delete_batches(allowed, DELETE_BATCH):
        outcomes += _delete_batch(ctx, batch)
    if signals.asset_count is not None:
        # our own deletes are no shrink: the next run compares with what is left
        _record_count(ctx, signals.asset_count - _assets_deleted(allowed, outcomes))
    deleted = sum(o.deleted for o in outcomes)
    kept = [d.reason for d in decisions if not d.allowed] + \
        [o.reason for o in outcomes if not o.deleted]
    return f"deleted {deleted} at the source" + (f"; kept {_tally(kept)}" if kept else "")


def _delete_batch(ctx: RunContext, batch: Sequence[MediaFile]) -> list[DeleteOutcome]:
    """Intents committed, then the source asked, then its answers committed: a kill at
    any point leaves each file's proof row, which the next run resolves."""
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
                         throttled=source.throttled)


def _record_count(ctx: RunContext, count: int) -> None:
    operation = SyncOperation(operation_type=COUNT_OPERATION, status="running",
                              run_id=ctx.run_id)
    ctx.ledger.start_operation(operation)
    operation.status, operation.files_scanned = "completed", count
    operation.detail = {"source": ctx.source.name}
    ctx.ledger.finish_operation(operation)


def _assets_deleted(files: Sequence[MediaFile], outcomes: Sequence[DeleteOutcome]) -> int:
    """Source assets gone: a live photo's two files are one asset."""
    deleted = {o.source_id for o in outcomes if o.deleted}
    return len({m.group_id or m.source_id for m in files if m.source_id in deleted})


def _previous_count(ctx: RunContext) -> int | None:
    operation = last_operation(ctx, COUNT_OPERATION, look_back=20)
    return operation.files_scanned if operation is not None else None


def _plan(decision: Decision) -> dict[str, Any]:
    return plan_row(decision.file, "delete at the source" if decision.allowed
                    else f"keep at the source: {decision.reason}")


def _tally(reasons: list[str | None]) -> str:
    counts = Counter(reason or "unknown" for reason in reasons)
    return ", ".join(f"{n} ({reason})" for reason, n in counts.most_common())
