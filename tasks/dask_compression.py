"""Step 6 on a Dask cluster through prefect-dask, for owners with more machines than one.

The files go to the cluster in a fixed number of batches, one Prefect task run each, so
a flow run's task runs do not grow with its files. This process hears each batch's
results as the batch finishes and hands them to step 6, which records them: the
orchestrating process alone writes the ledger, workers only compress. Every worker needs
mediasync, ffmpeg and the same paths as this machine (the working folders and the
compressed tree, e.g. the NAS mounted at the same place). Needs the `dask` extra."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect_dask import DaskTaskRunner

from mediasync.errors import MediasyncError
from mediasync.media.compress import CompressionResult, CompressJob
from mediasync.media.parallel import FilesProgress, ResultHeard, VideosProgress, compress_many
from mediasync.settings import CompressionSettings

# Two batches per worker thread: a thread that finishes early takes another batch, and
# about half of the results reach the ledger before the last batches end.
BATCHES_PER_THREAD = 2


@task(name="compress batch", cache_policy=NO_CACHE)
def compress_batch(jobs: list[CompressJob],
                   settings: CompressionSettings) -> list[CompressionResult]:
    """On a Dask worker: the batch's files one at a time. A worker process started by its
    nanny is daemonic and may not start a process pool; the cluster's worker processes
    are the parallelism."""
    return compress_many(jobs, settings, workers=1)


class DaskCompressor:
    """A `Compressor` (mediasync.media.parallel) that compresses on the Dask cluster whose
    scheduler is at `address`. Videos report no seconds from remote workers.

    Make it where the flow runs, outside any task: it keeps that context and submits the
    batches in it, so they are task runs of the flow run, beside step 6's. Submitted from
    inside step 6's task run, they would carry that task's parameters to every worker
    (the RunContext, with its open ledger), which neither pickle nor belong there."""

    def __init__(self, address: str, connect_timeout: str = "10s") -> None:
        self.address = address
        self._connect_timeout = connect_timeout
        self._flow_context = contextvars.copy_context()

    def __call__(self, jobs: Sequence[CompressJob], settings: CompressionSettings, *,
                 progress: FilesProgress | None = None,
                 video_progress: VideosProgress | None = None,
                 on_result: ResultHeard | None = None) -> list[CompressionResult]:
        if not jobs:  # nothing to send: the cluster need not even be up
            return []
        results: dict[int, CompressionResult] = {}
        with self._runner() as runner:
            threads = sum(runner.client.nthreads().values())
            in_the_flow = self._flow_context.copy()
            pending: dict[PrefectFuture[list[CompressionResult]], list[int]] = {}
            for batch in _split(len(jobs), max(threads, 1) * BATCHES_PER_THREAD):
                parameters = {"jobs": [jobs[i] for i in batch], "settings": settings}
                pending[in_the_flow.run(runner.submit, compress_batch, parameters)] = batch
            for future in as_completed(list(pending)):
                batch = pending[future]
                for i, result in zip(batch, _outcomes(future, [jobs[i] for i in batch]),
                                     strict=True):
                    results[i] = result
                    if on_result is not None:
                        on_result(i, result)
                    if progress is not None:
                        progress(len(results), len(jobs), jobs[i].source.name)
        return [results[i] for i in range(len(jobs))]

    @contextmanager
    def _runner(self) -> Iterator[DaskTaskRunner]:
        with DaskTaskRunner(address=self.address,
                            client_kwargs={"timeout": self._connect_timeout}) as runner:
            try:
                runner.client  # noqa: B018  connects now: an unreachable scheduler fails here
            except (OSError, TimeoutError) as exc:
                raise MediasyncError(f"cannot reach the Dask scheduler at {self.address}: "
                                     f"{exc}", retryable=True) from None
            yield runner


def _split(count: int, batches: int) -> list[list[int]]:
    """Indexes 0..count-1 dealt round-robin into at most `batches` batches, so that the
    videos of a run spread over the batches instead of crowding into one."""
    return [list(range(first, count, batches)) for first in range(min(count, batches))]


def _outcomes(future: PrefectFuture[list[CompressionResult]],
              jobs: list[CompressJob]) -> list[CompressionResult]:
    """The batch's results; a batch that did not finish (its worker lost, say) fails each
    of its files with the reason, and the other batches go on."""
    try:
        return future.result()
    except Exception as exc:
        reason = f"its Dask batch failed: {type(exc).__name__}: {exc}"
        return [CompressionResult(job.source, "failed", f"{job.source.name}: {reason}")
                for job in jobs]
