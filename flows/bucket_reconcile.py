"""The bucket-reconcile flow: keep a table of records in step with a bucket."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from mediasync.bucket.reconcile import analyse
from mediasync.bucket.record_table import PostgrestRecordTable
from mediasync.settings import load_settings
from mediasync.sources.bucket import BucketSource
from tasks.bucket import list_bucket, read_table, repair_table


@flow(name="bucket-reconcile", description="insert missing records, sign URLs that are "
      "missing or expiring, and remove orphaned records when applied")
def bucket_reconcile(apply: bool = False, dry_run: bool = False,
                     config: str | None = None) -> dict[str, Any]:
    """`apply` removes orphaned records (a deployment's parameter is the confirmation);
    `dry_run` analyses only and changes nothing; `config` is a mediasync.toml path."""
    settings = load_settings(Path(config) if config else None)
    source = BucketSource.from_settings(settings.bucket)
    try:
        table = PostgrestRecordTable.from_settings(source.connection, settings.bucket)
        objects = list_bucket(source)
        records = read_table(table)
        analysis = analyse(objects, records, settings.bucket, datetime.now(UTC))
        result = repair_table(source, table, analysis, settings.bucket,
                              remove_orphans=apply, dry_run=dry_run)
    finally:
        source.close()
    summary = result.summary()
    create_table_artifact([{k: v for k, v in summary.items() if not isinstance(v, dict | list)}],
                          key="bucket-reconcile-summary", description="bucket reconcile counts")
    return summary
