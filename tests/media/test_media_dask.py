"""Step 6 on a real (local) Dask cluster through prefect-dask: worker processes, pickled
batches, Prefect task runs recorded by the test harness's server."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import TaskRun

from mediasync.errors import MediasyncError
from mediasync.media import samples
from mediasync.media.compress import CompressJob
from mediasync.media.samples import PhotoSpec
from mediasync.model import Stage
from tests.helpers import Workspace
from tests.media.pipeline_run import COMPRESSION, files_by_name
from tests.operate.service import wait_until

pytest.importorskip("prefect_dask", reason="the 'dask' extra is not installed")
import distributed  # noqa: E402  (the 'dask' extra)

from tasks.dask_compression import DaskCompressor  # noqa: E402  (the 'dask' extra)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes with a thread each: step 6 sends them four batches."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", host="127.0.0.1",
                                  scheduler_port=0) as local:
        yield local.scheduler_address


def _library(folder: Path, count: int) -> None:
    """`count` files: a video and distinct photos."""
    samples.video(folder / "VID_0001.MP4")
    for seed in range(2, count + 1):
        samples.photo(folder / f"IMG_{seed:04d}.JPG",
                      PhotoSpec(captured=datetime(2020, 1, seed, 12, 0, 0), seed=seed))


def _break_working_copy(ws: Workspace, name: str) -> None:
    """Truncate a file after step 5 proved it decodes, as a failing disk would: step 6
    is then the step that meets it. The copy is replaced, not cut in place, so that its
    hard link in the Pixel folder keeps the good bytes."""
    media = files_by_name(ws.settings())[name][0]
    assert media.working_path is not None
    broken = samples.truncated(media.working_path, media.working_path.with_suffix(".cut"))
    os.replace(broken, media.working_path)


def _task_runs(flow_run_id: UUID, at_least: int) -> Counter[str]:
    """The flow run's finished task runs by task name, once at least `at_least` of them
    are in: the server records task runs from events, a moment after they happen."""
    def finished() -> list[TaskRun]:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        done = [run for run in runs if run.state is not None and run.state.is_final()]
        return done if len(done) >= at_least else []

    runs = wait_until(finished, timeout=60, what="the task runs of the flow run")
    return Counter(run.name.rsplit("-", 1)[0] for run in runs)  # "compress batch-3f1"


def _step6_on_the_cluster(tmp_path: Path, cluster: str, count: int,
                          monkeypatch: pytest.MonkeyPatch) -> tuple[Workspace, Any]:
    ws = Workspace.create(tmp_path, COMPRESSION.format(replace="false"))
    _library(ws.library, count)
    assert ws.run(end=5).is_completed()
    _break_working_copy(ws, "IMG_0002.JPG")
    monkeypatch.setenv("MEDIASYNC_COMPRESSION__DASK_ADDRESS", cluster)
    return ws, ws.run(start=6, end=6)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_step6_runs_in_batches_on_the_cluster_and_a_bad_file_fails_alone(
        cluster, tmp_path, monkeypatch):
    task_runs = {}
    for count in (4, 12):
        ws, state = _step6_on_the_cluster(tmp_path / str(count), cluster, count, monkeypatch)
        assert state.is_completed(), state.message
        (row,) = state.result()["steps"]
        assert (row["done"], row["failed"]) == (count - 1, 1)

        files = {name: found[0] for name, found in files_by_name(ws.settings()).items()}
        assert len(files) == count
        bad = files.pop("IMG_0002.JPG")
        assert bad.workflow_stage == Stage.FAILED
        assert bad.error.startswith("IMG_0002.JPG: ")
        for media in files.values():  # every result came back and was recorded
            assert media.workflow_stage == Stage.COMPRESSED and media.compressed, media
            assert Path(media.compressed_path).is_file()
        task_runs[count] = _task_runs(state.state_details.flow_run_id, at_least=5)

    # two worker threads, two batches each, whatever the number of files
    assert task_runs[4] == task_runs[12] == {"step 6: compression": 1, "compress batch": 4}


def test_an_unreachable_scheduler_is_one_retryable_line(media, settings, tmp_path):
    compress = DaskCompressor("tcp://127.0.0.1:9", connect_timeout="1s")
    job = CompressJob(media["jpeg"], tmp_path / "out.jpg")
    with pytest.raises(MediasyncError, match="cannot reach the Dask scheduler at "
                       "tcp://127.0.0.1:9") as caught:
        compress([job], settings)
    assert caught.value.retryable
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.jpg").exists()
