"""The bucket-sync flow: mirror a Supabase Storage bucket, check the registry, retention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, Failed, State

from mediasync.bucket.sync import SyncJob, SyncReport
from mediasync.settings import load_settings
from mediasync.sources.bucket import BucketSource
from tasks.bucket import check_registry_task, list_bucket, mirror_bucket, retention_task


@flow(name="bucket-sync", description="mirror a Supabase Storage bucket to the local registry, "
      "check it, then delete remote objects past retention (and their local copies)")
def bucket_sync(apply: bool | None = None, config: str | None = None) -> State[dict[str, Any]]:
    """`apply` deletes expired objects for real (default: bucket.apply_retention); `config`
    is a mediasync.toml path (default: $MEDIASYNC_CONFIG or ./mediasync.toml)."""
    settings = load_settings(Path(config) if config else None)
    source = BucketSource.from_settings(settings.bucket)
    try:
        job = SyncJob.from_settings(settings, source, apply=apply)
        objects = list_bucket(source)
        mirrored = mirror_bucket(job, objects)
        problems = check_registry_task(job, objects)
        healthy = not problems and not mirrored.failed
        kept = retention_task(job, objects, healthy)
        report = SyncReport(len(objects), mirrored, problems, kept)
    finally:
        source.close()
    return _finish(report)


def _finish(report: SyncReport) -> State[dict[str, Any]]:
    summary = report.summary()
    ret = summary["retention"]
    lines = [f"- {summary['listed']} objects listed, {summary['downloaded']} downloaded, "
             f"{len(summary['failed'])} failed",
             f"- registry problems: {len(summary['problems'])}",
             f"- retention: {len(ret['expired'])} expired, {ret['deleted']} deleted, "
             f"{ret['local_removed']} local copies removed, {len(ret['unparseable'])} "
             f"unparseable (kept)" + ("" if ret["applied"] else " — dry run")]
    create_markdown_artifact("# bucket sync\n\n" + "\n".join(lines), key="bucket-sync-summary",
                             description="bucket sync summary")
    if summary["failed"] or summary["problems"]:
        return Failed(message=f"{len(summary['failed'])} downloads failed, "
                      f"{len(summary['problems'])} registry problems", data=summary)
    return Completed(message=f"{summary['downloaded']} downloaded, {ret['deleted']} deleted",
                     data=summary)
