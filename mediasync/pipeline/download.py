"""Step 1: bring new assets from the source into `incoming/`, verified and recorded."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from mediasync.errors import FileProblem
from mediasync.files import is_local_fault, with_suffix_tag
from mediasync.media.capture import capture_time
from mediasync.model import MediaFile, MediaType, SourceAsset, Stage, StageChange
from mediasync.naming import prefixed_name
from mediasync.pipeline.common import ChangeWriter, read_ahead, run_ahead
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pipeline.listing import Listing
from mediasync.pipeline.session_warning import warn_if_session_ends_soon
from mediasync.pipeline.versions import Versions
from mediasync.sources.base import ListingNotes

MAX_DOWNLOAD_ATTEMPTS = 3
RECORD_EVERY = 50


def run(ctx: RunContext) -> StepReport:
    report = StepReport(1, "download")
    retry = _retryable(ctx)
    known = ctx.ledger.known_source_ids(ctx.source.name) - set(retry)
    versions = Versions(ctx)
    listing = Listing(ctx)
    if ctx.dry_run:
        wanted = list(_new_assets(ctx, listing, known, retry, versions))
        report.planned = [{"file": a.filename, "source_id": a.source_id,
                           "action": _planned_action(a, versions)} for a in wanted]
        report.done = len(wanted)
        report.message = (f"would download {len(wanted)} new assets"
                          f"{_passed_over(ctx)}{listing.note}")
        return report.finish()
    warn_if_session_ends_soon(ctx)
    incoming = ctx.path("incoming")
    recorder = _Recorder(ctx, retry, versions)
    stopped: list[BaseException] = []  # the source failed as a whole: start nothing more
    taken = set(os.listdir(incoming)) if incoming.is_dir() else set()  # not a stat per file
    listed = 0  # the total of the progress: it grows while the source is still listing
    listing.started()

    def planned() -> Iterator[tuple[SourceAsset, Path | None]]:
        nonlocal listed
        # downloads start with the first page of the listing, not after the last one
        try:
            for asset in read_ahead(_new_assets(ctx, listing, known, retry, versions)):
                if stopped:
                    return
                listed += 1
                yield asset, _working_name(incoming, asset, taken) if _wanted(asset) \
                    else None
        except Exception as exc:  # the listing failed: what is in flight still lands
            stopped.append(exc)

    try:
        for (asset, _), pending in run_ahead(planned(), partial(_transfer, ctx),
                                             ctx.source.parallel_downloads):
            try:
                media = pending.result() or _left_alone(ctx, asset, report)
            except FileProblem as exc:
                media = _failed(_new_row(ctx, asset), str(exc), report)
            except Exception as exc:  # the source itself: what is in flight still lands
                stopped.append(exc)
                continue
            if media.workflow_stage == Stage.DOWNLOADED:
                report.done += 1
                report.bytes += media.size or 0
            recorder.add(asset, media)
            ctx.progress(report.done + report.failed + report.skipped, listed,
                         asset.filename)
    finally:
        recorder.flush()  # also when the source fails: the files that arrived are here
    listing.finished(listed, step_failed=bool(stopped))
    if stopped:
        raise stopped[0]
    report.message = (f"{report.done} downloaded, {report.failed} failed, "
                      f"{report.skipped} skipped{_passed_over(ctx)}{_new_versions(versions)}"
                      f"{listing.note}")
    return report.finish()


class _Recorder:
    """New files and retried ones, written to the ledger every RECORD_EVERY files; a new
    version only after its old row is retired, which frees its source id."""

    def __init__(self, ctx: RunContext, retry: dict[str, MediaFile],
                 versions: Versions) -> None:
        self._ctx, self._retry, self._versions = ctx, retry, versions
        self._new: list[MediaFile] = []
        self._arrived: list[MediaFile] = []  # files changed at the source, downloaded again
        self._retried = ChangeWriter(ctx)

    def add(self, asset: SourceAsset, media: MediaFile) -> None:
        if asset.source_id in self._retry:
            self._retried.add(_retry_change(self._retry[asset.source_id], media))
        elif asset.source_id in self._versions.changed:
            self._arrived.append(media)
        else:
            self._new.append(media)
        if len(self._new) + len(self._arrived) >= RECORD_EVERY:
            self.flush()

    def flush(self) -> None:
        self._new += self._versions.settle(self._arrived)
        self._arrived = []
        self._ctx.ledger.add_files(self._new, self._ctx.run_id)
        self._new = []
        self._retried.flush()


def _retryable(ctx: RunContext) -> dict[str, MediaFile]:
    """Files that failed here, worth another try: a transfer that broke, or a file that
    was empty when listed (it may have been listed while it was being copied in: it is
    tried once it has bytes). One failed by a fault of this machine is tried whatever its
    attempts: with the fault still there, the run halts on it again without blaming it."""
    failed = ctx.ledger.files_at([Stage.FAILED], source=ctx.source.name)
    return {m.source_id: m for m in failed
            if m.failed_stage is None and m.local_path is None
            and m.media_type in (MediaType.IMAGE, MediaType.VIDEO)
            and (m.attempts < MAX_DOWNLOAD_ATTEMPTS or is_local_fault(m.error))}


def _new_assets(ctx: RunContext, listing: Listing, known: set[str],
                retry: dict[str, MediaFile], versions: Versions) -> Iterator[SourceAsset]:
    """What the ledger does not have yet, new versions of files changed at the source,
    and failed files worth another try. A limit never splits a group: the live photo
    being listed when it is reached comes whole (sources list a group's files together)."""
    count, group = 0, None
    for asset in listing.assets(known):
        recorded = asset.source_id in known
        if (recorded and not versions.is_changed(asset)) or _still_empty(asset, retry):
            continue
        if ctx.limit is not None and count >= ctx.limit \
                and (asset.group_id is None or asset.group_id != group):
            return
        count, group = count + 1, asset.group_id
        if recorded:
            versions.changed.add(asset.source_id)  # before the yield: the recorder reads it
        yield asset


def _still_empty(asset: SourceAsset, retry: dict[str, MediaFile]) -> bool:
    """Failed as an empty file and still empty: nothing to try or report until it has
    bytes."""
    before = retry.get(asset.source_id)
    return before is not None and before.size == 0 and asset.size == 0


def _planned_action(asset: SourceAsset, versions: Versions) -> str:
    if not _is_media(asset):
        return f"skip ({asset.media_type.value})"
    if asset.size == 0:
        return "fail (empty file)"
    if asset.source_id in versions.changed:
        return "download (changed at the source: a new version beside the archived one)"
    return "download"


def _passed_over(ctx: RunContext) -> str:
    """What the listing met and did not import, counted by reason (`mediasync doctor`
    names them)."""
    source = ctx.source
    if not isinstance(source, ListingNotes) or not source.passed_over:
        return ""
    counts = Counter(entry.reason for entry in source.passed_over)
    return "; not imported: " + ", ".join(f"{n} {reason}" for reason, n in counts.most_common())


def _new_versions(versions: Versions) -> str:
    count, same = len(versions.changed) - versions.same_bytes, versions.same_bytes
    return (f"; {count} changed at the source, taken as new versions" if count else "") \
        + (f"; {same} listed as changed but holding the recorded bytes" if same else "")


def _new_row(ctx: RunContext, asset: SourceAsset) -> MediaFile:
    return MediaFile(
        source=ctx.source.name, source_id=asset.source_id, filename=asset.filename,
        size=asset.size, captured_at=asset.created, media_type=asset.media_type,
        favorite=asset.favorite, group_id=asset.group_id, source_meta=dict(asset.extra),
        attempts=1,
    )


def _is_media(asset: SourceAsset) -> bool:
    return asset.media_type not in (MediaType.SIDECAR, MediaType.OTHER)


def _wanted(asset: SourceAsset) -> bool:
    return _is_media(asset) and asset.size != 0


def _transfer(ctx: RunContext, planned: tuple[SourceAsset, Path | None]) -> MediaFile | None:
    """In a download thread: the bytes and, read from them, the capture time."""
    asset, dest = planned
    if dest is None:
        return None
    media = _new_row(ctx, asset)
    got = ctx.source.download(asset, dest)
    media.size, media.content_hash, media.local_path = got.size, got.sha256, str(got.path)
    media.captured_at = capture_time(got.path, asset.media_type) or asset.created
    return media


def _left_alone(ctx: RunContext, asset: SourceAsset, report: StepReport) -> MediaFile:
    """The row of an asset that is not downloaded: a sidecar, another file, an empty one."""
    media = _new_row(ctx, asset)
    if _is_media(asset):
        return _failed(media, "empty file (0 bytes) at the source", report)
    report.skipped += 1
    media.workflow_stage = Stage.SKIPPED
    media.error = f"not a photo or video ({asset.media_type.value}): left at the source"
    return media


def _failed(media: MediaFile, reason: str, report: StepReport) -> MediaFile:
    report.failed += 1
    media.workflow_stage = Stage.FAILED
    media.error = reason
    return media


def _working_name(incoming: Path, asset: SourceAsset, taken: set[str]) -> Path:
    dest = incoming / prefixed_name(1, asset.filename, asset.created)
    if dest.name in taken:
        tag = hashlib.sha1(asset.source_id.encode()).hexdigest()[:8]
        dest = with_suffix_tag(dest, tag)
    taken.add(dest.name)
    return dest


def _retry_change(before: MediaFile, media: MediaFile) -> StageChange:
    assert before.id is not None
    updates = {k: getattr(media, k) for k in
               ("size", "content_hash", "local_path", "captured_at", "error")}
    updates["attempts"] = before.attempts + 1
    return StageChange(before.id, media.workflow_stage, updates,
                       detail=media.error or "retried download")
