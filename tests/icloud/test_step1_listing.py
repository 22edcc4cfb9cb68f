"""Step 1 downloads while iCloud is still listing: what that must not change."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediasync.errors import RateLimited
from mediasync.ledger import open_ledger
from mediasync.model import Stage
from mediasync.naming import prefixed_name
from mediasync.pipeline import download
from mediasync.pipeline.steps import open_context
from mediasync.settings import Settings
from mediasync.sources.icloud import LIVE_VIDEO_SUFFIX
from tests.fakes.icloud_server import FakeICloud
from tests.icloud.conftest import LIBRARY_SIZE, sign_in

LIVE = 12  # make_library(150): every 10th is live, except those that are videos


@pytest.fixture
def step_settings(settings: Settings, server: FakeICloud) -> Settings:
    sign_in(settings, server)
    return settings.model_copy(update={
        "source": settings.source.model_copy(update={"kind": "icloud"})})


def run_step1(settings: Settings, run_id: str, limit: int | None = None) -> int:
    ctx = open_context(settings, run_id, limit=limit)
    try:
        return download.run(ctx).done
    finally:
        ctx.ledger.close()


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
    # an incremental run would stop at the newest assets, all known: the docs say to
    # run a full pass after an interrupted first import
    full_pass = step_settings.model_copy(update={
        "icloud": step_settings.icloud.model_copy(update={"full_pass": True})})
    assert run_step1(full_pass, "run-2") == LIBRARY_SIZE + LIVE - len(landed)
    assert set(incoming.iterdir()) == recorded(step_settings)
    assert len(landed) < len(recorded(step_settings)) == LIBRARY_SIZE + LIVE
    assert len(server.downloads()) == LIBRARY_SIZE + LIVE  # none twice


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
