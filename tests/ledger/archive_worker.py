"""A stand-in for step 4 (NAS archive) as far as the ledger sees it: claim a batch at the
input stage, do the work for each file, record the batch's moves in one apply.

Run as a process: `python -m tests.ledger.archive_worker URL OWNER LOG START_FLAG`
appends the id of every file it archives to LOG, after waiting for START_FLAG to exist
(so that two workers start together).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from mediasync.ledger.base import Ledger
from mediasync.ledger.claims import claim_batches, holding
from mediasync.ledger.postgres import PostgresLedger
from mediasync.model import MediaFile, Stage, StageChange

INPUT, OUTPUT = Stage.DOWNLOADED, Stage.NAS_ARCHIVED


def run_step(ledger: Ledger, owner: str, archive: Callable[[MediaFile], None],
             batch: int = 5) -> int:
    """Archive everything at the input stage; returns how many files this call did."""
    done = 0
    with holding(ledger, owner):
        for files in claim_batches(ledger, [INPUT], owner, batch):
            for media in files:
                archive(media)
            ledger.apply([StageChange(m.id, OUTPUT, {"nas_archived": True})  # type: ignore[arg-type]
                          for m in files], run_id=owner)
            done += len(files)
    return done


def main(url: str, owner: str, log: Path, start_flag: Path) -> None:
    ledger = PostgresLedger(url)
    while not start_flag.exists():
        time.sleep(0.01)
    with log.open("a") as out:
        def archive(media: MediaFile) -> None:
            out.write(f"{media.id}\n")
            out.flush()
            time.sleep(0.001)  # a little work, so that the two workers interleave

        run_step(ledger, owner, archive)
    ledger.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
