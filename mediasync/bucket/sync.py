"""Mirror a Supabase Storage bucket into a local registry.

A sync lists the bucket, downloads what the registry lacks (in parallel, each file
written atomically and checked against the listed size), writes the list of what was
missing, checks the registry's health, and only then, on a healthy registry, applies
retention (see bucket_retention).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediasync.bucket.registry import check_registry, is_present, local_path, mark_copied
from mediasync.bucket.retention import RetentionResult, plan_retention, run_retention
from mediasync.errors import AuthError, MediasyncError
from mediasync.files import atomic_write
from mediasync.pipeline.context import ProgressCallback
from mediasync.settings import BucketSettings, Settings
from mediasync.sources.bucket import BucketObject, BucketSource


@dataclass
class SyncJob:
    source: BucketSource
    settings: BucketSettings
    registry: Path
    missing_list: Path
    apply: bool  # retention deletes for real
    progress: ProgressCallback | None = None

    @classmethod
    def from_settings(cls, settings: Settings, source: BucketSource, apply: bool | None = None,
                      progress: ProgressCallback | None = None) -> SyncJob:
        bucket = settings.bucket
        return cls(source, bucket, settings.resolve(bucket.registry),
                   settings.resolve(bucket.missing_list),
                   bucket.apply_retention if apply is None else apply, progress)

    def report(self, done: int, total: int, what: str) -> None:
        if self.progress is not None:
            self.progress(done, total, what)


@dataclass
class MirrorResult:
    missing: list[str] = field(default_factory=list)  # not in the registry before this run
    downloaded: int = 0
    bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # key -> one-line error


@dataclass
class SyncReport:
    listed: int
    mirror: MirrorResult
    problems: list[str]  # health check of the registry
    retention: RetentionResult

    def summary(self) -> dict[str, Any]:
        return {
            "listed": self.listed, "missing": len(self.mirror.missing),
            "downloaded": self.mirror.downloaded, "bytes": self.mirror.bytes,
            "failed": self.mirror.failed, "problems": self.problems,
            "retention": self.retention.summary(),
        }


def mirror(job: SyncJob, objects: Sequence[BucketObject]) -> MirrorResult:
    """Download every object the registry lacks, `parallelism` at a time."""
    wanted = [obj for obj in objects if not is_present(job.registry, obj)]
    result = MirrorResult(missing=[obj.key for obj in wanted])
    job.report(0, len(wanted), "download")
    with ThreadPoolExecutor(max_workers=job.settings.parallelism) as pool:
        futures = {pool.submit(_fetch, job, obj): obj for obj in wanted}
        for done, future in enumerate(as_completed(futures), start=1):
            obj = futures[future]
            try:
                result.bytes += future.result()
                result.downloaded += 1
            except AuthError:
                pool.shutdown(cancel_futures=True)
                raise
            except MediasyncError as exc:
                result.failed[obj.key] = str(exc)
            except OSError as exc:  # the registry side: a folder in the way, a full disk
                result.failed[obj.key] = f"{obj.key}: cannot write {exc.filename}: {exc.strerror}"
            job.report(done, len(wanted), obj.key)
    return result


def _fetch(job: SyncJob, obj: BucketObject) -> int:
    path = local_path(job.registry, obj.key)
    size = job.source.download_object(obj, path).size
    mark_copied(path, obj)
    return size


def mirror_and_list(job: SyncJob, objects: Sequence[BucketObject]) -> MirrorResult:
    """Mirror, then write the list of what was missing (one key a line)."""
    result = mirror(job, objects)
    with atomic_write(job.missing_list) as out:
        out.write("".join(f"{key}\n" for key in result.missing).encode())
    return result


def retention(job: SyncJob, objects: Sequence[BucketObject], healthy: bool,
              now: datetime | None = None) -> RetentionResult:
    """Retention runs only over a healthy registry: deletes wait until the mirror is whole."""
    plan = plan_retention(objects, job.settings, now or datetime.now(UTC))
    if not healthy:
        return RetentionResult.refused_for(plan, "registry unhealthy: no deletes this run")
    cap = job.settings.max_retention_deletes
    if cap is not None and len(plan.expired) > cap:
        # like rclone's --max-delete: a run that would delete more than allowed deletes nothing
        return RetentionResult.refused_for(
            plan, f"{len(plan.expired)} objects expired, more than max_retention_deletes "
                  f"({cap}): no deletes this run")
    return run_retention(job.source, plan, job.registry, job.settings, job.apply)


def run_sync(job: SyncJob, now: datetime | None = None) -> SyncReport:
    objects = list(job.source.list_objects())
    result = mirror_and_list(job, objects)
    problems = check_registry(job.registry, objects)
    healthy = not problems and not result.failed
    return SyncReport(len(objects), result, problems, retention(job, objects, healthy, now))
