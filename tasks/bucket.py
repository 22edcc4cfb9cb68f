"""Prefect tasks over the bucket core: one task per phase of a job, never one per file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from mediasync.bucket.reconcile import Analysis, ReconcileResult, repair
from mediasync.bucket.record_table import RecordTable
from mediasync.bucket.registry import check_registry
from mediasync.bucket.retention import RetentionResult
from mediasync.bucket.sync import MirrorResult, SyncJob, mirror_and_list, retention
from mediasync.settings import BucketSettings
from mediasync.sources.bucket import BucketObject, BucketSource
from steps import RETRY_DELAYS, is_transient

# Reads and downloads may be tried again; deletes and writes run once (the core retries
# each call on its own, and a half-done batch is better reported than repeated).
RETRYING: dict[str, Any] = {"retries": len(RETRY_DELAYS), "retry_delay_seconds": RETRY_DELAYS,
                            "retry_condition_fn": is_transient, "cache_policy": NO_CACHE}


@task(name="list bucket", **RETRYING)
def list_bucket(source: BucketSource) -> list[BucketObject]:
    return list(source.list_objects())


@task(name="mirror bucket", **RETRYING)
def mirror_bucket(job: SyncJob, objects: Sequence[BucketObject]) -> MirrorResult:
    return mirror_and_list(job, objects)


@task(name="check registry", cache_policy=NO_CACHE)
def check_registry_task(job: SyncJob, objects: Sequence[BucketObject]) -> list[str]:
    return check_registry(job.registry, objects)


@task(name="retention", cache_policy=NO_CACHE)
def retention_task(job: SyncJob, objects: Sequence[BucketObject],
                   healthy: bool) -> RetentionResult:
    return retention(job, objects, healthy)


@task(name="read table", **RETRYING)
def read_table(table: RecordTable) -> dict[str, str | None]:
    return table.records()


@task(name="repair table", cache_policy=NO_CACHE)
def repair_table(source: BucketSource, table: RecordTable, analysis: Analysis,
                 settings: BucketSettings, remove_orphans: bool,
                 dry_run: bool) -> ReconcileResult:
    return repair(source, table, analysis, settings, remove_orphans=remove_orphans,
                  dry_run=dry_run)
