"""Step 7, before any delete: close the intents a killed run left open.

A delete's proof row is committed as an intent before the source is asked, and closed
from the source's answer. A run killed in between leaves intents whose answer nobody
read; this asks the source, now, which of those files it still holds. Gone: the delete
happened, the intent is confirmed under the proof it was written with. Still there: the
intent is closed as kept and the file stays a candidate, so it passes the whole gate
again before any new delete (its proof checked at that moment, not read from the
killed run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mediasync.ledger.base import DeleteAnswer
from mediasync.pipeline.context import RunContext
from mediasync.sources.base import PresenceCheck

STILL_THERE = "still at the source after an interrupted run"


@dataclass(frozen=True)
class Interrupted:
    confirmed: int = 0
    kept: int = 0
    left_open: int = 0  # the source cannot say what it holds: no new delete may start

    def sentence(self) -> str | None:
        if self.left_open:
            return (f"{self.left_open} interrupted deletes left open: the source cannot say"
                    " which files it still holds, so nothing is deleted")
        if self.confirmed or self.kept:
            return (f"{self.confirmed} interrupted deletes confirmed, {self.kept} files"
                    " still at the source go through the gate again")
        return None


def resolve_interrupted(ctx: RunContext) -> Interrupted:
    """Close this source's open intents by asking the source about their files."""
    intents = ctx.ledger.open_intents(ctx.source.name)
    if not intents:
        return Interrupted()
    if not isinstance(ctx.source, PresenceCheck):
        return Interrupted(left_open=len(intents))
    # one lookup per intent: a killed run leaves at most one batch of them open
    files = [f for f in (ctx.ledger.get(p.file_id) for p in intents) if f is not None]
    present = ctx.source.still_present(files)
    now = datetime.now(UTC)
    ctx.ledger.resolve_intents([
        DeleteAnswer(f.id, f.source_id not in present, now,
                     STILL_THERE if f.source_id in present else None)
        for f in files if f.id is not None])
    kept = sum(f.source_id in present for f in files)
    return Interrupted(confirmed=len(files) - kept, kept=kept)
