"""Step 6: shrink what the owner's rules ask to shrink, into the compressed tree beside
the archive (same date layout). Images go through a process pool, videos one at a time
with ffmpeg's progress, unless the run's context brings another compressor (a Dask
cluster's). The archived original is replaced only with replace_original."""

from __future__ import annotations

import os
import threading
from pathlib import Path, PurePath
from typing import Any

from mediasync.errors import ArchiveError, FileProblem, MediaError
from mediasync.files import copy_hashed, disk_fault, sha256_file, working_folder_error
from mediasync.media.compress import CompressionResult, CompressJob, choose_rule
from mediasync.media.parallel import compress_many
from mediasync.media.video import VideoProgress
from mediasync.model import MediaFile, Stage, StageChange
from mediasync.nas.archive import NasArchive
from mediasync.pipeline.archive import nas_archive
from mediasync.pipeline.common import ChangeWriter, failure, plan_row, take
from mediasync.pipeline.context import RunContext, StepReport
from mediasync.pipeline.processing import as_told_of


def run(ctx: RunContext) -> StepReport:
    report = StepReport(6, "compression")
    files = take(ctx, [Stage.PROCESSING_READY])
    if ctx.dry_run:
        report.planned = [plan_row(m, _plan(ctx, m)) for m in files]
        report.done = len(files)
        report.message = f"would consider {len(files)} files for compression"
        return report.finish()
    with ChangeWriter(ctx) as changes:
        if not ctx.settings.compression.enabled:
            for media in files:
                changes.add(_kept(media, {"strategy": "keep"}, "compression is off", report))
        else:
            _compress_all(ctx, files, changes, report)
    report.message = (f"{report.done} compressed, {report.skipped} kept as is,"
                      f" {report.failed} failed")
    return report.finish()


def _compress_all(ctx: RunContext, files: list[MediaFile], changes: ChangeWriter,
                  report: StepReport) -> None:
    jobs: list[CompressJob] = []
    # the files each job stands for: twins share one archived copy, so one compressed
    # copy; two jobs writing it at once would collide on its temp file
    sharing: list[list[MediaFile]] = []
    job_of: dict[Path, int] = {}
    for media in files:
        try:
            job = job_for(ctx, media)
        except FileProblem as exc:
            report.failed += 1
            changes.add(failure(media, exc))
            continue
        if job.dest in job_of:
            sharing[job_of[job.dest]].append(media)
        else:
            job_of[job.dest] = len(jobs)
            jobs.append(job)
            sharing.append([media])

    disk_faults: list[int] = []  # the compressed folder's, not the files': they stay

    def record(index: int, result: CompressionResult) -> None:
        fault = disk_fault(result.reason) if result.status == "failed" else None
        if fault is not None:
            disk_faults.append(fault)
            return
        for media in sharing[index]:
            changes.add(_outcome(ctx, media, result, report))

    meter = _Meter(ctx, {job.source.name: twins[0].filename
                         for job, twins in zip(jobs, sharing, strict=True)})
    compress = ctx.compress or compress_many
    compress(jobs, ctx.settings.compression, progress=meter.file_done,
             video_progress=meter.video, on_result=record)
    if disk_faults:
        raise working_folder_error(ctx.path("compressed"), os.strerror(disk_faults[0]),
                                   disk_faults[0])


def job_for(ctx: RunContext, media: MediaFile) -> CompressJob:
    """Compress the local working copy (its hash is the archived one) into the compressed
    tree, at the archive's relative path. A mounted archive's copy stands in when the
    working copy is gone; a remote one (SFTP) cannot."""
    if not media.nas_path:
        raise FileProblem(f"{media.label}: not archived, nothing to compress beside",
                          subject=media.source_id)
    archive = nas_archive(ctx)
    try:
        relative = PurePath(media.nas_path).relative_to(archive.root)
    except ValueError:
        raise FileProblem(f"{media.label}: archived at {media.nas_path}, outside the "
                          f"archive {archive.root}", subject=media.source_id) from None
    source = media.working_path
    if source is None or not source.is_file():
        if not isinstance(archive, NasArchive):
            raise FileProblem(f"{media.label}: no working copy left to compress",
                              subject=media.source_id)
        source = Path(media.nas_path)
    return CompressJob(source, ctx.path("compressed") / relative, media.captured_at,
                       media.media_type, original_folder=Path(media.nas_path).parent)


def _plan(ctx: RunContext, media: MediaFile) -> str:
    settings = ctx.settings.compression
    try:
        rule = choose_rule(settings.rules, job_for(ctx, media)) if settings.enabled else None
    except (FileProblem, OSError) as exc:
        return f"fail: {exc}"
    if rule is None or rule.strategy == "keep":
        return "keep as is"
    replace = ", replace the archived original" if settings.replace_original else ""
    return f"compress ({rule.strategy}){replace}"


def _outcome(ctx: RunContext, media: MediaFile, result: CompressionResult,
             report: StepReport) -> StageChange:
    assert media.id is not None
    if result.status == "failed":
        report.failed += 1
        return failure(media, MediaError(as_told_of(media, result.source, result.reason),
                                         subject=media.source_id))
    if result.status == "kept":
        return _kept(media, result.metadata, result.reason, report)
    assert result.output is not None
    metadata = {**result.metadata, "result": "compressed", "reason": result.reason}
    updates: dict[str, Any] = {"compressed": True, "compressed_path": str(result.output),
                               "compression_metadata": metadata}
    if ctx.settings.compression.replace_original:
        try:
            updates.update(replace_original(ctx, media, result.output, metadata))
        except ArchiveError as exc:
            report.failed += 1
            return failure(media, exc)
    report.done += 1
    report.bytes += media.size or 0
    return StageChange(media.id, Stage.COMPRESSED, updates, detail=result.reason)


def _kept(media: MediaFile, metadata: dict[str, Any], reason: str,
          report: StepReport) -> StageChange:
    assert media.id is not None
    report.skipped += 1
    return StageChange(media.id, Stage.COMPRESSED, {
        "compressed": False,
        "compression_metadata": {**metadata, "result": "kept", "reason": reason},
    }, detail=reason)


def replace_original(ctx: RunContext, media: MediaFile, compressed: Path,
                     metadata: dict[str, Any]) -> dict[str, Any]:
    """Put the compressed copy where the archived original was (verified by a re-read
    from the disk), then remove the original there. The ledger keeps the original's hash
    in `content_hash` and records what the NAS now holds in `nas_path`/`nas_hash`."""
    assert media.nas_path is not None
    original = Path(media.nas_path)
    if not isinstance(nas_archive(ctx), NasArchive):
        return _original_kept(metadata, "replace_original needs a mounted archive, not SFTP")
    sharing = [m for m in ctx.ledger.files_where(nas_path=media.nas_path) if m.id != media.id]
    if sharing:
        return _original_kept(metadata, f"it is also the copy of {sharing[0].label}")
    target = original.with_name(compressed.name)
    if target != original and target.exists():
        raise ArchiveError(f"{target}: exists already; the archived original "
                           f"{original.name} is kept", subject=target)
    try:
        written = copy_hashed(compressed, target)
        if sha256_file(target, drop_cache=True) != written.sha256:
            raise ArchiveError(f"{target}: re-read of the compressed copy does not match",
                               subject=target)
        if target != original:
            original.unlink(missing_ok=True)
        compressed.unlink()
    except OSError as exc:
        raise ArchiveError(f"{target}: cannot replace the archived original: "
                           f"{exc.strerror}", subject=target) from None
    metadata["replaced_original"] = {"nas_path": str(original), "sha256": media.nas_hash}
    return {"nas_path": str(target), "nas_hash": written.sha256,
            "compressed_path": str(target)}


def _original_kept(metadata: dict[str, Any], why: str) -> dict[str, Any]:
    metadata["replaced_original"] = False
    metadata["reason"] += f"; archived original kept: {why}"
    return {}


class _Meter:
    """One progress measure for the step: each file is worth STEPS_PER_FILE, and a video
    being encoded fills its share second by second, so the CLI bar and the Prefect
    progress artifact move during a long encode, not only between files."""

    STEPS_PER_FILE = 100

    def __init__(self, ctx: RunContext, names: dict[str, str]) -> None:
        self._ctx, self._names = ctx, names  # working copy name -> the owner's name
        self._total, self._files_done = len(names), 0
        self._lock = threading.Lock()

    def file_done(self, done: int, total: int, name: str) -> None:
        with self._lock:
            self._files_done = done
            self._ctx.progress(done * self.STEPS_PER_FILE, total * self.STEPS_PER_FILE,
                               f"{done}/{total} files, {self._names.get(name, name)}")

    def video(self, job: CompressJob) -> VideoProgress:
        def report(seconds: float, duration: float) -> None:
            share = int(self.STEPS_PER_FILE * seconds / duration) if duration else 0
            with self._lock:
                self._ctx.progress(
                    self._files_done * self.STEPS_PER_FILE + share,
                    self._total * self.STEPS_PER_FILE,
                    f"{self._files_done}/{self._total} files, encoding "
                    f"{self._names.get(job.source.name, job.source.name)}: "
                    f"{seconds:.0f}/{duration:.0f} s")

        return report
