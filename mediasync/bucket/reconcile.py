"""Keep a table of records in step with a bucket: one record per object, each with a
signed URL that is not about to expire.

`analyse` compares the two; `repair` inserts the missing records in batches, signs what
needs a URL (1000 paths per Storage call) and, only when asked, removes the orphaned
records. A dry run changes nothing anywhere.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mediasync.bucket.record_table import RecordTable
from mediasync.settings import BucketSettings
from mediasync.sources.bucket import BucketObject, BucketSource


@dataclass
class Analysis:
    by_extension: dict[str, int]  # every object in the bucket
    objects: int  # the objects that should have a record (reconcile_extensions)
    records: int
    missing: list[str]  # objects without a record
    orphans: list[str]  # records without an object
    to_sign: list[str]  # records without a URL, or with one expiring within the margin

    def summary(self) -> dict[str, Any]:
        return {"by_extension": self.by_extension, "objects": self.objects,
                "records": self.records, "missing": len(self.missing),
                "orphans": self.orphans, "to_sign": len(self.to_sign)}


@dataclass
class ReconcileResult:
    analysis: Analysis
    dry_run: bool
    inserted: int = 0
    signed: int = 0
    sign_errors: dict[str, str] = field(default_factory=dict)
    orphans_removed: int = 0
    orphans_refused: str | None = None

    def summary(self) -> dict[str, Any]:
        return {**self.analysis.summary(), "dry_run": self.dry_run, "inserted": self.inserted,
                "signed": self.signed, "sign_errors": self.sign_errors,
                "orphans_removed": self.orphans_removed, "orphans_refused": self.orphans_refused}


def url_expires_at(url: str) -> datetime | None:
    """The expiry of a Storage signed URL: the `exp` claim of its token (a JWT)."""
    token = parse_qs(urlsplit(url).query).get("token", [""])[0]
    try:
        claims = token.split(".")[1]
        exp = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["exp"]
        return datetime.fromtimestamp(int(exp), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def needs_url(url: str | None, deadline: datetime) -> bool:
    expires = url_expires_at(url) if url else None
    return expires is None or expires <= deadline


def analyse(objects: Iterable[BucketObject], records: Mapping[str, str | None],
            settings: BucketSettings, now: datetime) -> Analysis:
    objects = list(objects)
    present = {obj.key for obj in objects}
    scope = f"{settings.prefix.strip('/')}/" if settings.prefix.strip("/") else ""
    only = settings.reconcile_extensions
    wanted = {obj.key for obj in objects if not only or obj.extension in only}
    deadline = now + timedelta(seconds=settings.signed_url_margin_seconds)
    return Analysis(
        by_extension=dict(Counter(obj.extension or "(none)" for obj in objects).most_common()),
        objects=len(wanted), records=len(records),
        missing=sorted(wanted - records.keys()),
        # a record of an object outside `reconcile_extensions` still has its object, and one
        # outside the listed prefix was never looked for
        orphans=sorted(key for key in records.keys() - present if key.startswith(scope)),
        to_sign=sorted(key for key, url in records.items()
                       if key in present and needs_url(url, deadline)),
    )


def repair(source: BucketSource, table: RecordTable, analysis: Analysis,
           settings: BucketSettings, *, remove_orphans: bool, dry_run: bool) -> ReconcileResult:
    result = ReconcileResult(analysis, dry_run)
    if dry_run:
        return result
    signed = source.sign(analysis.missing + analysis.to_sign, settings.signed_url_seconds)
    result.sign_errors = signed.errors
    result.inserted = table.insert({key: signed.urls.get(key) for key in analysis.missing})
    result.signed = len(signed.urls)
    table.set_urls({key: signed.urls[key] for key in analysis.to_sign if key in signed.urls})
    if remove_orphans and analysis.orphans:
        if analysis.objects == 0:
            # An empty listing next to existing records looks like a wrong bucket or prefix.
            result.orphans_refused = "the bucket lists no objects: orphans kept"
        else:
            result.orphans_removed = table.delete(analysis.orphans)
    return result


def take_stock(source: BucketSource, table: RecordTable, settings: BucketSettings,
               now: datetime | None = None) -> Analysis:
    """List the bucket and read the table, then compare."""
    objects = list(source.list_objects())
    return analyse(objects, table.records(), settings, now or datetime.now(UTC))
