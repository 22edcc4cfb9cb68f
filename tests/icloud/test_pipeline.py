"""The eight steps' core functions with the iCloud source against the fake server:
download, archive, prove, then delete by record, with every gate on."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediasync.errors import AuthError
from mediasync.ledger import open_ledger
from mediasync.model import Stage
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.settings import Settings
from tests.fakes.icloud_server import FakeICloud, FakePhoto
from tests.icloud.conftest import FILES, RECORDS
from tests.icloud.media import TAKEN, jpeg


@pytest.fixture
def settings(media_settings: Settings) -> Settings:
    return media_settings


def run_steps(settings: Settings, run_id: str, dry_run: bool = False,
              accept_shrink: bool = False) -> list[StepReport]:
    ctx = open_context(settings, run_id, dry_run=dry_run, accept_shrink=accept_shrink)
    try:
        return [step.run(ctx) for step in STEPS]
    finally:
        ctx.ledger.close()


def modified_records(server: FakeICloud) -> list[str]:
    return [op["record"]["recordName"] for r in server.requests("records/modify")
            for op in r.body["operations"]]


def test_whole_run_deletes_exactly_the_proven_records(settings: Settings,
                                                      media_server: FakeICloud) -> None:
    reports = run_steps(settings, "run-1")
    assert reports[0].done == FILES and reports[0].failed == 0
    assert "deleted 10 at the source; kept 1 (favourite)" in reports[6].message
    # by record name, once per asset: the favourite P000 stays
    assert sorted(modified_records(media_server)) == [r for r in RECORDS if r != "P000"]
    assert media_server.deleted() == [r for r in RECORDS if r != "P000"]

    ledger = open_ledger(settings.ledger.url, settings.base_dir)
    try:
        files = ledger.files_at([Stage.COMPLETED])
        assert len(files) == FILES
        for media in files:
            proof = ledger.deletions(media.id)  # type: ignore[attr-defined]
            if media.source_id == "P000":
                assert media.source_deleted_at is None and proof == []
            else:
                assert media.source_deleted_at is not None
                assert [(p.nas_hash, p.run_id) for p in proof] == [(media.content_hash,
                                                                    "run-1")]
                assert Path(proof[0].nas_path).is_file()
    finally:
        ledger.close()

    downloads = len(media_server.downloads())
    second = run_steps(settings, "run-2")
    assert second[0].done == 0 and len(media_server.downloads()) == downloads
    assert "deleted 0 at the source" in second[6].message
    assert "circuit breaker" not in second[6].message
    assert len(media_server.requests("records/modify")) == 8


def test_dry_run_deletes_nothing_and_plans_the_deletes(settings: Settings,
                                                       media_server: FakeICloud) -> None:
    run_steps(settings.model_copy(update={"icloud": settings.icloud.model_copy(
        update={"delete": False})}), "run-1")
    reports = run_steps(settings, "dry", dry_run=True)
    planned = {row["source_id"]: row["action"] for row in reports[6].planned}
    assert planned["P001"] == "delete at the source"
    assert planned["P000"] == "keep at the source: favourite"
    assert media_server.requests("records/modify") == []


def test_delete_off_only_lists(settings: Settings, media_server: FakeICloud) -> None:
    off = settings.model_copy(update={"icloud": settings.icloud.model_copy(
        update={"delete": False})})
    reports = run_steps(off, "run-1")
    assert "source deletion is off" in reports[6].message
    assert media_server.requests("records/modify") == []
    assert any((settings.resolve(settings.workflow.icloud_delete)).iterdir())


def test_source_shrinking_trips_the_breaker(settings: Settings,
                                            media_server: FakeICloud) -> None:
    for record in ("P001", "P002", "P003", "P004", "P005"):
        media_server.state.photos[record].favorite = True  # kept, so counted again
    run_steps(settings, "run-1")
    assert len(media_server.deleted()) == 3  # L000, L001, V000
    # the owner empties most of the library by hand before the next run
    for record in ("P001", "P002", "P003", "P004"):
        media_server.state.photos[record].deleted = True
    media_server.add_photos([FakePhoto("N1", "NEW.JPG", jpeg(77, TAKEN), TAKEN,
                                       "public.jpeg")])
    reports = run_steps(settings, "run-2")
    assert "circuit breaker: the source shrank from 6 to 3 assets" in reports[6].message
    assert "--accept-shrink" in reports[6].message
    assert modified_records(media_server).count("N1") == 0

    # the count that tripped the breaker is not the next run's baseline
    reports = run_steps(settings, "run-3")
    assert "circuit breaker: the source shrank from 6 to 3 assets" in reports[6].message
    assert modified_records(media_server).count("N1") == 0

    # a person accepts the shrink once: deletes go on, and 3 is the baseline from now on
    reports = run_steps(settings, "run-4", accept_shrink=True)
    assert "circuit breaker" not in reports[6].message
    assert modified_records(media_server).count("N1") == 1
    media_server.add_photos([FakePhoto("N2", "NEW2.JPG", jpeg(78, TAKEN), TAKEN,
                                       "public.jpeg")])
    reports = run_steps(settings, "run-5")
    assert "circuit breaker" not in reports[6].message
    assert modified_records(media_server).count("N2") == 1


def test_short_body_fails_alone_and_is_never_deleted(settings: Settings,
                                                     media_server: FakeICloud) -> None:
    media_server.short_body("P003", 100)
    reports = run_steps(settings, "run-1")
    assert (reports[0].done, reports[0].failed) == (FILES - 1, 1)
    ledger = open_ledger(settings.ledger.url, settings.base_dir)
    try:
        failed = ledger.find(next(iter({m.source for m in ledger.files_at([Stage.FAILED])})),
                             "P003")
        assert failed is not None and failed.workflow_stage == Stage.FAILED
        assert not failed.nas_archived and failed.nas_path is None
        assert "connection dropped" in (failed.error or "")
    finally:
        ledger.close()
    assert "P003" not in modified_records(media_server)
    assert not list(settings.resolve(settings.workflow.nas_archive).rglob("*IMG_0003*"))


def test_expired_session_fails_step_one_and_changes_nothing(settings: Settings,
                                                            media_server: FakeICloud) -> None:
    media_server.expire_sessions(421)
    ctx = open_context(settings, "run-1")
    try:
        with pytest.raises(AuthError, match="iCloud session expired: run `mediasync icloud"):
            STEPS[0].run(ctx)
        assert ctx.ledger.counts_by_stage() == {}
    finally:
        ctx.ledger.close()
    incoming = settings.resolve(settings.workflow.incoming)
    assert not incoming.exists() or list(incoming.iterdir()) == []


def test_auth_error_amid_parallel_downloads_records_every_file_that_landed(
        settings: Settings, media_server: FakeICloud) -> None:
    """Four downloads at a time: when one is refused, the others in flight still finish,
    and every file in incoming/ is in the ledger, so a rerun downloads none of them twice."""
    assert settings.source.parallel_downloads == 4
    media_server.fail("/content/P003/", 401)
    ctx = open_context(settings, "run-1")
    try:
        with pytest.raises(AuthError, match="mediasync icloud login"):
            STEPS[0].run(ctx)
        recorded = {Path(m.local_path) for m in ctx.ledger.files_at([Stage.DOWNLOADED])
                    if m.local_path}
    finally:
        ctx.ledger.close()
    landed = set(settings.resolve(settings.workflow.incoming).iterdir())
    assert landed == recorded and 0 < len(landed) < FILES

    reports = run_steps(settings, "run-2")  # the refusal was a one-off
    assert reports[0].done == FILES - len(landed) and reports[0].failed == 0
