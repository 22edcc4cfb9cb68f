"""Many files at once: images across all cores in a process pool (Pillow holds the GIL
while it encodes), videos a few at a time in threads (each encode is an ffmpeg process
that already uses every core). Every job fails alone."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from mediasync.media.compress import CompressionResult, CompressJob, compress_file
from mediasync.media.video import VideoProgress
from mediasync.model import MediaType
from mediasync.settings import CompressionSettings

FilesProgress = Callable[[int, int, str], None]  # (files done, files in all, file name)
VideosProgress = Callable[[CompressJob], VideoProgress]  # one video's seconds callback
ResultHeard = Callable[[int, CompressionResult], None]  # (index in jobs, its result)


class Compressor(Protocol):
    """What compresses many files: `compress_many` on this machine's cores, or another
    machinery given the same promises (results in the order of `jobs`, each file failing
    alone, `on_result` called in the caller's thread)."""

    def __call__(self, jobs: Sequence[CompressJob], settings: CompressionSettings, *,
                 progress: FilesProgress | None = None,
                 video_progress: VideosProgress | None = None,
                 on_result: ResultHeard | None = None) -> list[CompressionResult]: ...


def compress_many(jobs: Sequence[CompressJob], settings: CompressionSettings,
                  workers: int | None = None, progress: FilesProgress | None = None,
                  video_progress: VideosProgress | None = None,
                  on_result: ResultHeard | None = None) -> list[CompressionResult]:
    """Results in the order of `jobs`. `workers` overrides `settings.image_workers`
    (1: images one at a time in a thread, no process pool); `video_progress(job)` gives
    the (done_seconds, total_seconds) callback of one video; `on_result(index, result)`
    hears of each file as it finishes, in this thread (so a caller can record results as
    they come rather than all at the end)."""
    tally = _Tally(len(jobs), progress)
    results: dict[int, CompressionResult] = {}
    images = {i for i, job in enumerate(jobs) if job.kind == MediaType.IMAGE}
    image_workers = workers or settings.image_workers or os.cpu_count() or 1
    with _image_executor(image_workers, len(images)) as pool, \
            ThreadPoolExecutor(max_workers=settings.video_workers) as threads:
        pending: dict[Future[CompressionResult], int] = {}
        for i, job in enumerate(jobs):
            if i in images:
                pending[pool.submit(compress_file, job, settings)] = i
            else:
                callback = video_progress(job) if video_progress else None
                pending[threads.submit(compress_file, job, settings, callback)] = i
        for future in as_completed(pending):
            i = pending[future]
            results[i] = _outcome(jobs[i], future)
            if on_result is not None:
                on_result(i, results[i])
            tally.one_done(jobs[i])
    return [results[i] for i in range(len(jobs))]


def _image_executor(workers: int, count: int) -> Executor:
    if workers <= 1 or count <= 1:
        return ThreadPoolExecutor(max_workers=1)  # not worth starting processes
    # forkserver: workers start from a clean process, not from a fork of one that runs
    # threads (the orchestrator's, ffmpeg readers).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mediasync.media.compress"])
    return ProcessPoolExecutor(max_workers=min(workers, count), mp_context=context)


def _outcome(job: CompressJob, future: Future[CompressionResult]) -> CompressionResult:
    try:
        return future.result()
    except BrokenProcessPool:
        return CompressionResult(job.source, "failed",
                                 f"{job.source.name}: the image worker process died")


class _Tally:
    """Counts finished files and reports them, from whichever thread finishes one."""

    def __init__(self, total: int, progress: FilesProgress | None) -> None:
        self.total, self.done = total, 0
        self._progress = progress
        self._lock = threading.Lock()

    def one_done(self, job: CompressJob) -> None:
        with self._lock:
            self.done += 1
            if self._progress is not None:
                self._progress(self.done, self.total, job.source.name)
