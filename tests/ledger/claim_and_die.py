"""A worker that claims two files and is killed before it can release them:
`python -m tests.ledger.claim_and_die sqlite PATH` or `... postgres URL`."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from mediasync.ledger.base import Ledger
from mediasync.ledger.postgres import PostgresLedger
from mediasync.ledger.sqlite import SqliteLedger
from mediasync.model import Stage


def main(backend: str, where: str) -> None:
    ledger: Ledger = SqliteLedger(Path(where)) if backend == "sqlite" else PostgresLedger(where)
    claimed = ledger.claim([Stage.DOWNLOADED], 2, owner="killed-run")
    print(" ".join(str(m.id) for m in claimed), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
