"""Steps 5 and 6 on a generated library, after the real steps 1-4, with the SQLite
ledger and the folder source."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pytest

from mediasync.files import sha256_file
from mediasync.media.parallel import compress_many
from mediasync.media.samples import PhotoSpec, photo
from mediasync.model import Stage
from mediasync.pipeline.steps import STEPS, open_context
from tests.helpers import Workspace
from tests.media.pipeline_run import files_by_name, run_steps, setup_run


def test_step5_records_metadata_links_live_photos_and_fails_bad_files_alone(tmp_path,
                                                                          library):
    settings = setup_run(tmp_path, library)
    report = run_steps(settings, 5)[-1]
    files = files_by_name(settings)
    photo = files["IMG_0001.JPG"][0]
    assert photo.workflow_stage == Stage.PROCESSING_READY
    assert photo.media_metadata["orientation"] == 6
    assert photo.media_metadata["gps"]["latitude"] == pytest.approx(48.8584)
    assert photo.captured_at.isoformat() == "2019-07-14T18:30:05+02:00"
    clip = files["VID_0004.MP4"][0]
    assert clip.media_metadata["rotation"] == 90
    assert clip.media_metadata["location"] == "+48.8584+002.2945/"
    truncated = files["truncated.jpg"][0]
    assert truncated.workflow_stage == Stage.FAILED
    assert truncated.error.startswith("truncated.jpg: cannot decode image: ")
    assert files["empty.jpg"][0].workflow_stage == Stage.FAILED  # by step 1 already
    assert (report.done, report.failed) == (9, 1)
    live_image, live_clip = files["IMG_0005.HEIC"][0], files["IMG_0005.MOV"][0]
    assert live_image.group_id is not None and live_image.group_id == live_clip.group_id
    assert files["IMG_0002.JPG"][0].group_id is None


def test_step6_fails_a_file_that_broke_after_step5_alone(tmp_path, library):
    settings = setup_run(tmp_path, library)
    run_steps(settings, 5)
    working = Path(files_by_name(settings)["IMG_0002.JPG"][0].local_path)
    working.write_bytes(working.read_bytes()[:2000])
    report = run_steps(settings, 6)[-1]
    broken = files_by_name(settings)["IMG_0002.JPG"][0]
    assert broken.workflow_stage == Stage.FAILED
    assert broken.error.startswith("IMG_0002.JPG: cannot decode image")
    assert (report.done, report.failed) == (8, 1)


def test_step6_compresses_twins_sharing_one_archived_copy_once(tmp_path, library):
    settings = setup_run(tmp_path, library)
    folder = settings.resolve(settings.source.path) / "2021"
    shutil.copy(folder / "IMG_0002.JPG", folder / "IMG_0002 copy.JPG")
    run_steps(settings, 5)
    outputs: list[Path] = []

    def recording(jobs, *args, **kwargs):
        outputs.extend(job.dest for job in jobs)
        return compress_many(jobs, *args, **kwargs)

    ctx = open_context(settings, run_id="run-6", compress=recording)
    try:
        report = STEPS[5].run(ctx)
    finally:
        ctx.ledger.close()
    files = files_by_name(settings)
    first, twin = files["IMG_0002.JPG"][0], files["IMG_0002 copy.JPG"][0]
    assert first.nas_path == twin.nas_path
    assert len(outputs) == len(set(outputs))  # one job per compressed copy
    assert first.workflow_stage == twin.workflow_stage == Stage.COMPRESSED
    assert first.compressed_path == twin.compressed_path
    assert Path(first.compressed_path).is_file()
    assert (report.done, report.failed) == (10, 0)


def test_step6_compresses_beside_the_archive_and_leaves_it_alone(tmp_path, library):
    settings = setup_run(tmp_path, library)
    events: list[tuple[int, int, str]] = []
    report = run_steps(settings, 6, progress=lambda d, t, w: events.append((d, t, w)))[-1]
    archive = settings.resolve(settings.workflow.nas_archive)
    compressed_root = settings.resolve(settings.workflow.compressed)
    assert report.done == 9 and report.failed == 0
    for media in sum(files_by_name(settings).values(), []):
        if media.workflow_stage in (Stage.FAILED, Stage.SKIPPED):
            continue
        assert media.workflow_stage == Stage.COMPRESSED
        assert media.compressed
        output = Path(media.compressed_path)
        relative = Path(media.nas_path).relative_to(archive)
        assert output.parent == (compressed_root / relative).parent
        assert output.stat().st_size < media.size
        assert sha256_file(Path(media.nas_path)) == media.content_hash
        meta = media.compression_metadata
        assert meta["result"] == "compressed" and meta["compressed_size"] == output.stat().st_size
    encoding = [(done, total) for done, total, what in events if "encoding VID_0004" in what]
    assert encoding and all(done <= total for done, total in encoding)
    last = events[-1]
    assert last[0] == last[1] and last[2].startswith("9/9 files")


def test_step6_replaces_the_archived_original_only_when_asked(tmp_path, library):
    settings = setup_run(tmp_path, library, replace=True)
    run_steps(settings, 6)
    heic = files_by_name(settings)["IMG_0003.HEIC"][0]
    assert heic.compressed
    assert heic.nas_path.endswith("IMG_0003.jpg")
    assert heic.compressed_path == heic.nas_path
    assert sha256_file(Path(heic.nas_path)) == heic.nas_hash != heic.content_hash
    replaced = heic.compression_metadata["replaced_original"]
    assert not Path(replaced["nas_path"]).exists()
    assert replaced["sha256"] == heic.content_hash


def test_step6_keeps_files_no_rule_compresses(tmp_path, library):
    settings = setup_run(tmp_path, library)
    settings.compression.rules = []
    run_steps(settings, 6)
    photo = files_by_name(settings)["IMG_0002.JPG"][0]
    assert photo.workflow_stage == Stage.COMPRESSED and not photo.compressed
    assert photo.compression_metadata["result"] == "kept"
    assert not settings.resolve(settings.workflow.compressed).exists()


def test_step5_moves_working_copies_to_processing_on_another_filesystem(tmp_path, library):
    """incoming/ and processing/ on different disks: a rename cannot cross them (EXDEV),
    so the copy is written there, verified by size, and only then removed here."""
    other = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        if other.stat().st_dev == tmp_path.stat().st_dev:
            pytest.skip("/dev/shm is on the same filesystem as the test's folder here")
        settings = setup_run(tmp_path, library)
        settings = settings.model_copy(update={"workflow": settings.workflow.model_copy(
            update={"processing": other / "processing"})})
        report = run_steps(settings, 5)[-1]
        assert (report.done, report.failed) == (9, 1)
        photo = files_by_name(settings)["IMG_0001.JPG"][0]
        working = Path(photo.local_path)
        assert working.parent == other / "processing"
        assert sha256_file(working) == photo.content_hash
        incoming = settings.resolve(settings.workflow.incoming)
        assert not [p for p in incoming.iterdir() if p.name.endswith(".JPG")]
    finally:
        shutil.rmtree(other)


def test_an_implausible_capture_date_does_not_place_the_file_and_is_flagged(tmp_path):
    """A camera whose clock was never set writes 2999:01:01: the file is archived by the
    source's own time instead, and the ledger says why."""
    workspace = Workspace.create(tmp_path)
    shot = photo(workspace.library / "IMG_2999.jpg",
                 PhotoSpec(captured=datetime(2999, 1, 1, 0, 0, 0), offset=None))
    os.utime(shot, (datetime(2021, 3, 4, 12, 0).timestamp(),) * 2)
    settings = workspace.settings()
    run_steps(settings, 5)
    [media] = files_by_name(settings)["IMG_2999.jpg"]
    assert media.workflow_stage == Stage.PROCESSING_READY
    assert Path(media.nas_path).relative_to(workspace.nas).parts[:3] == ("2021", "03", "04")
    assert media.media_metadata["implausible_capture_time"] == "2999-01-01T00:00:00"
    assert media.media_metadata["captured_at"] is None
    ledger = workspace.ledger()
    try:
        details = [e.detail or "" for e in ledger.events(media.id)]
    finally:
        ledger.close()
    assert any(d.startswith("capture time 2999-01-01T00:00:00 in the file is implausible")
               for d in details), details
