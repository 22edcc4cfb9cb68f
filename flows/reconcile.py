"""The reconcile flow: bring file_records of a few folder trees in line with the disk.

One task per folder (never per file); each pass is also a sync_operations row. Serve it
daily with `python -m flows.reconcile` (deployment "reconcile/daily", 03:00).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from mediasync.ledger import open_ledger
from mediasync.records.scan import ScanOptions
from mediasync.records.scan import reconcile as reconcile_root
from mediasync.settings import Settings, load_settings
from steps import RETRY_DELAYS, is_transient

COUNTS = ("scanned", "added", "updated", "removed", "failed")


@task(name="reconcile folder", retries=len(RETRY_DELAYS),
      retry_delay_seconds=[float(d) for d in RETRY_DELAYS],
      retry_condition_fn=is_transient, cache_policy=NO_CACHE)
def reconcile_folder(root: str, config: str | None, run_id: str) -> dict[str, Any]:
    settings = _settings(config)
    ledger = open_ledger(settings.ledger.url, settings.base_dir)
    try:
        stats = reconcile_root(ledger, Path(root), run_id=run_id,
                               options=ScanOptions.from_settings(settings))
    finally:
        ledger.close()
    get_run_logger().info("%s: %d files, %d added, %d updated, %d removed, %d failed",
                          root, stats.scanned, stats.added, stats.updated, stats.removed,
                          stats.failed)
    return {key: value for key, value in stats.as_dict().items() if key != "problems"}


@flow(name="reconcile", description="file_records brought in line with the disk, per folder")
def reconcile(roots: list[str] | None = None, config: str | None = None) -> State[Any]:
    """Reconcile `roots` (default: watch.roots of the config) and return the counts."""
    settings = _settings(config)
    folders = roots or [str(settings.resolve(r)) for r in settings.watch.roots]
    if not folders:
        return Failed(message="nothing to reconcile: pass roots or set watch.roots")
    run_id = str(flow_run.id or "local")
    results = [reconcile_folder(root, config, run_id) for root in folders]
    create_table_artifact(key="reconcile", table=results, description="reconcile pass")
    totals = {key: sum(r[key] for r in results) for key in COUNTS}
    summary = {"roots": results, **totals}
    message = ", ".join(f"{totals[key]} {key}" for key in COUNTS)
    if totals["failed"]:
        return Failed(message=f"some files could not be read: {message}", data=summary)
    return Completed(message=message, data=summary)


def _settings(config: str | None) -> Settings:
    return load_settings(Path(config) if config else None)


if __name__ == "__main__":
    reconcile.serve(name="daily", cron="0 3 * * *")
