"""Whether step 1 may let a source stop listing early, from what earlier listings recorded.

A source that lists newest first (iCloud) can stop once it meets assets the ledger has,
but only when everything older was listed before. A first import cut short, a run with
`--limit`, or an incremental run interrupted in the middle of many new assets all leave
older assets behind known ones, where an early stop would never reach them. So each
listing of such a source is recorded in sync_operations when it starts and marked
completed only when it ran to its end and step 1 finished; the next listing stops early
only when the last one for the source completed with the same scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mediasync.model import SourceAsset, SyncOperation
from mediasync.pipeline.common import last_operation
from mediasync.pipeline.context import RunContext
from mediasync.sources.base import RecentFirstSource

OPERATION = "source_listing"
LOOK_BACK = 50  # listings of other sources sharing the ledger that may come in between


class Listing:
    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        source = ctx.source
        self._recent = source if isinstance(source, RecentFirstSource) else None
        self._scope = self._recent.listing_scope if self._recent is not None else None
        self._last = last_operation(ctx, OPERATION, LOOK_BACK) \
            if self._recent is not None else None
        self.early_stop = self._last is not None and self._last.status == "completed" \
            and (self._last.detail or {}).get("scope") == self._scope
        self.reached_end = False  # set in the listing thread once the source has no more
        self._operation: SyncOperation | None = None

    @property
    def note(self) -> str:
        """For the step's message: why a source that could stop early listed everything."""
        if self._last is None or self.early_stop:
            return ""  # a first listing walks everything anyway
        if self._last.status == "completed":
            return "; listed everything: the library, album or filters changed"
        return "; listed everything: the last listing did not run to its end"

    def assets(self, known: Iterable[str]) -> Iterator[SourceAsset]:
        if self.early_stop and self._recent is not None:
            yield from self._recent.list_recent(known)
        else:
            yield from self._ctx.source.list_assets(known)
        self.reached_end = True

    def started(self) -> None:
        if self._recent is None:
            return  # it lists everything every time: nothing to remember
        self._operation = SyncOperation(
            operation_type=OPERATION, status="running", run_id=self._ctx.run_id,
            detail={"source": self._ctx.source.name, "scope": self._scope,
                    "early_stop": self.early_stop})
        self._ctx.ledger.start_operation(self._operation)

    def finished(self, listed: int, step_failed: bool) -> None:
        """Completed only when every listed asset was dealt with: after a failure, what was
        listed but never downloaded is not in the ledger, and must be listed again."""
        if self._operation is None:
            return
        if step_failed:
            self._operation.status = "interrupted"
        else:
            self._operation.status = "completed" if self.reached_end else "cut short"
        self._operation.files_scanned = listed
        self._ctx.ledger.finish_operation(self._operation)
