"""Retention for a bucket: remote objects older than their limit go, with their local copies.

An object's age comes from Storage's metadata or from its path (`path_pattern`); a rule
per extension may keep a type for ever or for a different number of days. A path that
does not parse is reported and kept. Nothing is deleted unless the run applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mediasync.bucket.path_pattern import PathPattern
from mediasync.bucket.registry import is_present, remove_copies
from mediasync.settings import BucketSettings
from mediasync.sources.bucket import BucketObject, BucketSource


@dataclass
class RetentionPlan:
    expired: list[BucketObject] = field(default_factory=list)
    kept: int = 0
    unparseable: list[str] = field(default_factory=list)


@dataclass
class RetentionResult:
    plan: RetentionPlan
    applied: bool = False
    deleted: list[str] = field(default_factory=list)
    local_removed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # key -> why it stays
    refused: str | None = None  # why no delete was even tried

    @classmethod
    def refused_for(cls, plan: RetentionPlan, reason: str) -> RetentionResult:
        return cls(plan, refused=reason)

    def summary(self) -> dict[str, Any]:
        return {
            "expired": [obj.key for obj in self.plan.expired], "kept": self.plan.kept,
            "unparseable": self.plan.unparseable, "applied": self.applied,
            "deleted": len(self.deleted), "local_removed": self.local_removed,
            "skipped": self.skipped, "refused": self.refused,
        }


def retention_days(obj: BucketObject, settings: BucketSettings) -> int | None:
    for rule in settings.retention_rules:
        if obj.extension in rule.extensions:
            return rule.retention_days
    return settings.retention_days


def plan_retention(objects: Sequence[BucketObject], settings: BucketSettings,
                   now: datetime) -> RetentionPlan:
    pattern = (PathPattern(settings.path_pattern, settings.path_timezone)
               if settings.age_from == "path" else None)
    plan = RetentionPlan()
    for obj in objects:
        days = retention_days(obj, settings)
        if days is None:
            plan.kept += 1
            continue
        when = pattern.time_of(obj.key) if pattern else obj.updated
        if when is None:
            plan.unparseable.append(obj.key)
        elif when < now - timedelta(days=days):
            plan.expired.append(obj)
        else:
            plan.kept += 1
    return plan


def run_retention(source: BucketSource, plan: RetentionPlan, registry: Path,
                  settings: BucketSettings, apply: bool) -> RetentionResult:
    result = RetentionResult(plan, applied=apply)
    candidates = plan.expired
    if not settings.remove_local_copies:
        # The registry keeps its copies, so a remote object may go only when its copy is whole.
        result.skipped = {obj.key: "no complete local copy" for obj in candidates
                          if not is_present(registry, obj)}
        candidates = [obj for obj in candidates if obj.key not in result.skipped]
    if not apply:
        return result
    removed = source.remove([obj.key for obj in candidates])
    result.deleted = [obj.key for obj in candidates if obj.key in removed]
    if settings.remove_local_copies:
        result.local_removed = remove_copies(registry, result.deleted)
    return result
