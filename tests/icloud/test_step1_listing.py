"""Step 1 downloads while iCloud is still listing: what that must not change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mediasync.errors import RateLimited
from mediasync.ledger import open_ledger
from mediasync.model import Stage
from mediasync.naming import prefixed_name
from mediasync.pipeline import download, listing
from mediasync.pipeline.steps import open_context
from mediasync.settings import Settings
from mediasync.sources.icloud import LIVE_VIDEO_SUFFIX
from tests.fakes.icloud_server import FakeICloud, FakePhoto
from tests.icloud.conftest import LIBRARY_SIZE, sign_in

LIVE = 12  # make_library(150): every 10th is live, except those that are videos


@pytest.fixture
def step_settings(settings: Settings, server: FakeICloud) -> Settings:
    sign_in(settings, server)
    return settings.model_copy(update={
        "source": settings.source.model_copy(update={"kind": "icloud"})})


def run_step1(settings: Settings, run_id: str, limit: int | None = None,
              walks_everything: bool | None = None) -> int:
    ctx = open_context(settings, run_id, limit=limit)
    try:
        report = download.run(ctx)
    finally:
        ctx.ledger.close()
    if walks_everything is not None:
        assert ("listed everything" in report.message) == walks_everything, report.message
    return report.done


def recorded(settings: Settings) -> set[Path]:
    """The files the ledger says step 1 downloaded."""
    ledger = open_ledger(settings.ledger.url, settings.base_dir)
    try:
        return {Path(m.local_path) for m in ledger.files_at([Stage.DOWNLOADED])
                if m.local_path}
    finally:
        ledger.close()


def test_a_listing_failing_midway_keeps_every_file_that_landed(
        step_settings: Settings, server: FakeICloud) -> None:
    # two set-up queries and the first page pass, every later page is throttled for good
    server.fail("private/records/query", 503, times=1000, after=3)
    with pytest.raises(RateLimited):
        run_step1(step_settings, "run-1")
    incoming = step_settings.resolve(step_settings.workflow.incoming)
    landed = set(incoming.iterdir())
    assert landed == recorded(step_settings) and 0 < len(landed) < LIBRARY_SIZE + LIVE

    server.state.faults.clear()
    # the newest assets are all known, but the first listing never reached the end: the
    # next run walks everything rather than stopping at them
    pages = len(server.requests("records/query"))
    assert run_step1(step_settings, "run-2", walks_everything=True) \
        == LIBRARY_SIZE + LIVE - len(landed)
    full_walk = len(server.requests("records/query")) - pages
    assert set(incoming.iterdir()) == recorded(step_settings)
    assert len(landed) < len(recorded(step_settings)) == LIBRARY_SIZE + LIVE
    assert len(server.downloads()) == LIBRARY_SIZE + LIVE  # none twice

    # that walk completed: from now on a run stops at the known assets
    pages = len(server.requests("records/query"))
    assert run_step1(step_settings, "run-3", walks_everything=False) == 0
    assert len(server.requests("records/query")) - pages < full_walk


def newer_photos(count: int) -> list[FakePhoto]:
    """`count` plain photos taken after the whole library, newest first."""
    newest = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return [FakePhoto(f"N{i:03d}", f"NEW_{i:03d}.JPG", f"new {i}".encode(),
                      newest - dt.timedelta(hours=i), "public.jpeg") for i in range(count)]


def test_a_cut_short_run_among_many_new_assets_is_finished_by_the_next(
        step_settings: Settings, server: FakeICloud) -> None:
    assert run_step1(step_settings, "run-1") == LIBRARY_SIZE + LIVE
    server.add_photos(newer_photos(120))
    # 60 new ones land, more than stop_after_known (50) in a row: stopping at them would
    # never reach the 60 older new ones
    assert run_step1(step_settings, "run-2", limit=60) == 60
    assert run_step1(step_settings, "run-3") == 60
    assert len(recorded(step_settings)) == LIBRARY_SIZE + LIVE + 120


def test_a_run_on_one_album_makes_the_next_library_run_walk_everything(
        step_settings: Settings, server: FakeICloud) -> None:
    # a first listing walks everything without saying so
    assert run_step1(step_settings, "run-1", walks_everything=False) == LIBRARY_SIZE + LIVE
    new = newer_photos(70)
    server.add_photos(new)
    server.add_album("Trip", [photo.record_name for photo in new[:60]])
    trip = step_settings.model_copy(update={
        "icloud": step_settings.icloud.model_copy(update={"album": "Trip"})})
    assert run_step1(trip, "run-2") == 60
    # the library's newest 60 are known through the album, the 10 below them are not
    assert run_step1(step_settings, "run-3", walks_everything=True) == 10


def test_a_dry_run_records_no_listing(step_settings: Settings) -> None:
    ctx = open_context(step_settings, "dry", dry_run=True)
    try:
        assert download.run(ctx).done == LIBRARY_SIZE + LIVE
    finally:
        ctx.ledger.close()
    ledger = open_ledger(step_settings.ledger.url, step_settings.base_dir)
    try:
        assert ledger.recent_operations(operation_type=listing.OPERATION) == []
    finally:
        ledger.close()


def test_a_limit_never_splits_a_live_photo(step_settings: Settings) -> None:
    # newest first: A00000..A00008, then live A00009's image and its video
    assert run_step1(step_settings, "run-1", limit=10) == 11
    ledger = open_ledger(step_settings.ledger.url, step_settings.base_dir)
    try:
        ids = {m.source_id for m in ledger.files_at([Stage.DOWNLOADED])}
    finally:
        ledger.close()
    assert ids == {f"A{i:05d}" for i in range(10)} | {"A00009" + LIVE_VIDEO_SUFFIX}


def test_a_file_already_in_incoming_is_never_overwritten(step_settings: Settings,
                                                         server: FakeICloud) -> None:
    newest = server.state.photos["A00000"]
    incoming = step_settings.resolve(step_settings.workflow.incoming)
    incoming.mkdir(parents=True)
    there = incoming / prefixed_name(1, newest.filename, newest.created)
    there.write_bytes(b"an earlier file of that name")
    assert run_step1(step_settings, "run-1", limit=1) == 1
    assert there.read_bytes() == b"an earlier file of that name"
    (new,) = recorded(step_settings)
    assert new != there and new.read_bytes() == newest.data
