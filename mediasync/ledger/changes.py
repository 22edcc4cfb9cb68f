"""What a batch of stage changes does, decided once for every backend.

Each backend fetches the current stages of the files a batch touches, asks `plan_changes`
for the row updates and events, and writes them in its own way. A batch with one illegal
move is refused whole, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from mediasync.errors import LedgerError
from mediasync.ledger.columns import check_columns
from mediasync.model import FileNote, MediaFile, Stage, StageChange, check_move

EVENT_COLUMNS = ("file_id", "from_stage", "to_stage", "run_id", "at", "detail")
# a stage change ends the file's claim: these columns are cleared with it
CLAIM_COLUMNS = ("claimed_by", "claimed_at", "claimed_session")


@dataclass
class PlannedChange:
    file_id: int
    before: Stage
    after: Stage
    columns: dict[str, Any]  # media_files columns to set, workflow_stage included
    detail: str | None

    def event(self, run_id: str | None, at: Any) -> tuple[Any, ...]:
        return (self.file_id, self.before.value, self.after.value, run_id, at, self.detail)


def plan_changes(changes: Sequence[StageChange],
                 current: dict[int, Stage]) -> list[PlannedChange]:
    """Check every move against the state machine (a file may move twice in one batch)
    and record the stage a file failed at."""
    stages = dict(current)
    planned: list[PlannedChange] = []
    for change in changes:
        if change.file_id not in stages:
            raise LedgerError(f"ledger has no file with id {change.file_id}")
        before = stages[change.file_id]
        check_move(before, change.to_stage, f"file {change.file_id}")
        columns = {**change.updates, "workflow_stage": change.to_stage.value}
        if change.to_stage == Stage.FAILED and before != Stage.FAILED:
            columns.setdefault("failed_stage", before.value)
        check_columns(columns)
        planned.append(PlannedChange(change.file_id, before, change.to_stage, columns,
                                     change.detail))
        stages[change.file_id] = change.to_stage
    return planned


def same_column_runs(planned: Sequence[PlannedChange]) -> Iterator[list[PlannedChange]]:
    """Consecutive changes that set the same columns, each file once: one statement
    each, in batch order (a file moved twice keeps its last stage)."""
    for _, consecutive in groupby(planned, key=lambda p: tuple(p.columns)):
        run: list[PlannedChange] = []
        in_run: set[int] = set()
        for plan in consecutive:
            if plan.file_id in in_run:
                yield run
                run, in_run = [], set()
            run.append(plan)
            in_run.add(plan.file_id)
        yield run


def prepare_new(files: Sequence[MediaFile], now: datetime) -> None:
    """Refuse the whole batch if any file starts at a stage a new file cannot have."""
    for media in files:
        check_move(None, media.workflow_stage, media.label)
        media.created_at = media.updated_at = now


def check_note(note: FileNote) -> None:
    """A note changes columns, never the stage (that is `apply`, with its state machine)."""
    if "workflow_stage" in note.updates:
        raise LedgerError("stage changes go through apply()")
    check_columns(note.updates)
