"""Runs the real step 4 (NAS archive) once, as its own process, once START_FLAG exists:
`python -m tests.ledger.step4_worker CONFIG RUN_ID START_FLAG`. The ledger URL comes from
MEDIASYNC_LEDGER__URL."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mediasync.pipeline import archive
from mediasync.pipeline.steps import open_context
from mediasync.settings import load_settings


def main(config: Path, run_id: str, start_flag: Path) -> None:
    ctx = open_context(load_settings(config), run_id)
    print("ready", flush=True)  # imports done, ledger open: both start on equal terms
    while not start_flag.exists():
        time.sleep(0.01)
    report = archive.run(ctx)
    ctx.ledger.close()
    print(report.done)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
