"""How a step takes its files when several workers may run it at once.

    with holding(ctx.ledger, ctx.run_id):
        for files in claim_batches(ctx.ledger, stages, ctx.run_id, batch=100):
            ...  # work on the files, then ledger.apply(...) their moves

Each batch is claimed for this run only; a move to the next stage ends a file's claim,
and whatever the run still holds is released when the step ends. A retry of the step
in the same run first drops what the failed try left claimed; the claims of a worker
that was killed are free at once (see sessions.py), or after their lease over REST.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from mediasync.errors import LedgerError
from mediasync.ledger.base import DEFAULT_LEASE_SECONDS, Ledger
from mediasync.model import MediaFile, Stage


@contextmanager
def holding(ledger: Ledger, owner: str) -> Iterator[None]:
    ledger.release(owner)
    try:
        yield
    except BaseException:
        # the step's own error is the one to report; the claims lapse or the retry drops them
        with suppress(LedgerError):
            ledger.release(owner)
        raise
    ledger.release(owner)


def claim_batches(ledger: Ledger, stages: Iterable[Stage], owner: str, batch: int,
                  limit: int | None = None,
                  lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Iterator[list[MediaFile]]:
    """Batches of files nobody else holds, until none is left or `limit` files were
    handed out. Files left at their stage stay held by `owner`, so they are not handed
    out twice."""
    stages = list(stages)
    taken = 0
    while limit is None or taken < limit:
        want = batch if limit is None else min(batch, limit - taken)
        files = ledger.claim(stages, want, owner, lease_seconds)
        if not files:
            return
        taken += len(files)
        yield files
