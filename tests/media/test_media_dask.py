"""Step 6's jobs on a real (local) Dask cluster: worker processes, pickled jobs."""

from __future__ import annotations

import pytest

from mediasync.errors import MediasyncError
from mediasync.media.compress import CompressJob
from mediasync.media.dask_runner import dask_executor
from mediasync.media.parallel import compress_many
from mediasync.model import Stage
from tests.media.pipeline_run import files_by_name, run_steps, setup_run

distributed = pytest.importorskip("distributed", reason="the 'dask' extra is not installed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1",
                                  scheduler_port=0) as local:
        yield local.scheduler_address


@pytest.mark.slow
def test_jobs_run_on_the_cluster_and_fail_alone(cluster, media, settings, tmp_path):
    names = ["jpeg", "truncated_jpeg", "heic", "mp4", "truncated_mp4"]
    jobs = [CompressJob(media[n], tmp_path / n / media[n].name) for n in names]
    with dask_executor(cluster) as executor:
        results = compress_many(jobs, settings, executor=executor)
    assert [r.status for r in results] == ["compressed", "failed", "compressed",
                                           "compressed", "failed"]
    assert all(r.output.is_file() for r in results if r.status == "compressed")
    assert results[1].reason.startswith("broken.jpg: ")


def test_unreachable_scheduler_is_a_retryable_error():
    with pytest.raises(MediasyncError, match="cannot reach the Dask scheduler") as caught, \
            dask_executor("tcp://127.0.0.1:9", timeout="1s"):
        pass
    assert caught.value.retryable


@pytest.mark.slow
def test_step6_runs_on_the_cluster(cluster, library, tmp_path):
    settings = setup_run(tmp_path, library)
    settings.compression.dask_address = cluster
    report = run_steps(settings, 6)[-1]
    assert (report.done, report.failed) == (9, 0)
    clip = files_by_name(settings)["VID_0004.MP4"][0]
    assert clip.workflow_stage == Stage.COMPRESSED and clip.compressed
