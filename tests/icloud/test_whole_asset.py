"""Issue 22, items 4 and 5 for iCloud: an asset is deleted only as a whole (an edit or a
RAW's JPEG that is not archived keeps it at iCloud), and a delete counts only when
CloudKit's answer returns the record marked deleted. Real pyicloud against the double,
which answers in the shapes of recorded CloudKit traffic."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from mediasync.ledger import open_ledger
from mediasync.ledger.base import DeletionState
from mediasync.model import MediaFile, Stage
from mediasync.pipeline.context import StepReport
from mediasync.pipeline.steps import STEPS, open_context
from mediasync.settings import Settings
from mediasync.sources import icloud
from mediasync.sources.icloud import ICloudSource
from tests.fakes.icloud_server import FakeICloud, FakePhoto
from tests.icloud.media import TAKEN, jpeg
from tests.icloud.test_delete import as_proven_file, gate

OLDER = TAKEN - dt.timedelta(days=30)


def run_steps(settings: Settings, run_id: str) -> list[StepReport]:
    ctx = open_context(settings, run_id)
    try:
        return [step.run(ctx) for step in STEPS]
    finally:
        ctx.ledger.close()


def ledger_rows(settings: Settings) -> dict[str, tuple[MediaFile, int]]:
    """Each file's ledger row and how many confirmed deletion proofs it has (a delete the
    source did not confirm leaves a kept row with its answer)."""
    ledger = open_ledger(settings.ledger.url, settings.base_dir)
    try:
        return {m.source_id: (m, sum(p.state == DeletionState.CONFIRMED
                                     for p in ledger.deletions(m.id)))  # type: ignore[arg-type]
                for m in ledger.files_at([Stage.COMPLETED])}
    finally:
        ledger.close()


def assert_kept(row: tuple[MediaFile, int]) -> None:
    media, proofs = row
    assert media.source_deleted_at is None and proofs == 0


def raw_plus_jpeg(record: str = "R000") -> FakePhoto:
    """A RAW+JPEG pair as Photos keeps it: the RAW is the original, the JPEG the
    alternative original."""
    return FakePhoto(record, "IMG_0300.DNG", jpeg(30, OLDER), OLDER, "com.adobe.raw-image",
                     alternative=jpeg(31, OLDER))


def edited(record: str = "E000") -> FakePhoto:
    when = OLDER - dt.timedelta(days=1)
    return FakePhoto(record, "IMG_0301.JPG", jpeg(32, when), when, "public.jpeg",
                     edited=jpeg(33, when))


# -- the listing records what the asset holds -------------------------------------------

def test_listing_names_the_parts_that_are_not_archived(source: ICloudSource,
                                                       server: FakeICloud) -> None:
    video = FakePhoto("EV00", "CLIP.MOV", b"v" * 50, OLDER, "com.apple.quicktime-movie",
                      edited=b"edited video")
    live = FakePhoto("EL00", "LIVE.HEIC", b"i" * 50, OLDER, live_video=b"m" * 60,
                     edited=b"edited still")
    screenshot = dataclasses.replace(edited("ES00"), adjustment_type="ScreenshotServices")
    server.add_photos([raw_plus_jpeg(), edited(), video, live, screenshot])
    parts = {a.source_id: a.extra["unarchived_parts"] for a in source.list_assets()}
    assert parts["R000"] == ["alternative original"]
    assert parts["E000"] == parts["EV00"] == parts["ES00"] == ["edit"]
    assert parts["EL00"] == parts["EL00:live"] == ["edit"]
    assert parts["A00000"] == [] and parts["A00009"] == parts["A00009:live"] == []


# -- the whole run: only the plain assets go --------------------------------------------

def test_edited_and_raw_plus_jpeg_assets_stay_with_the_reason_in_the_ledger(
        media_settings: Settings, media_server: FakeICloud) -> None:
    settings = media_settings
    edited_live = media_server.state.photos["L000"]
    edited_live.edited = jpeg(34, edited_live.created)
    media_server.add_photos([raw_plus_jpeg(), edited()])
    reports = run_steps(settings, "run-1")
    assert reports[0].failed == 0
    kept = {"P000", "L000", "R000", "E000"}  # P000 is a favourite
    assert media_server.deleted() == sorted({"P001", "P002", "P003", "P004", "P005",
                                             "L001", "V000"})
    # files: the edited photo, the edited live photo's image and video
    assert reports[6].message.endswith(
        "deleted 8 at the source; kept 3 (edited at the source (in Photos): the edit is not "
        "archived yet), 1 (favourite), 1 (has an alternative original (RAW+JPEG) that is "
        "not archived)")
    rows = ledger_rows(settings)
    for source_id, row in rows.items():
        if source_id.removesuffix(":live") in kept:
            assert_kept(row)
    errors = {source_id: row[0].error for source_id, row in rows.items()}
    assert errors["R000"] == ("kept at the source: has an alternative original "
                              "(RAW+JPEG) that is not archived")
    assert errors["E000"] == errors["L000"] == errors["L000:live"] == (
        "kept at the source: edited at the source (in Photos): the edit is not archived yet")
    assert errors["P001"] is None
    modified = {op["record"]["recordName"] for r in media_server.requests("records/modify")
                for op in r.body["operations"]}
    assert modified.isdisjoint(kept)


def test_unconfirmed_deletes_are_kept_with_iclouds_answer_in_the_ledger(
        media_settings: Settings, media_server: FakeICloud) -> None:
    settings = media_settings
    media_server.answer_delete("P003", "empty")
    media_server.answer_delete("P004", "SERVER_REJECTED_REQUEST")
    media_server.answer_delete("P005", "unchanged")
    reports = run_steps(settings, "run-1")
    # files: P001, P002, V000 and the two live photos' images and videos
    assert "deleted 7 at the source" in reports[6].message
    assert media_server.deleted() == ["L000", "L001", "P001", "P002", "V000"]
    rows = ledger_rows(settings)
    for source_id in ("P003", "P004", "P005"):
        assert_kept(rows[source_id])
    errors = {source_id: row[0].error for source_id, row in rows.items()}
    assert errors["P003"] == ("not deleted at the source: iCloud's answer did not "
                              "confirm the delete (it answered {})")
    assert errors["P004"] == ("not deleted at the source: refused by iCloud "
                              "(SERVER_REJECTED_REQUEST)")
    assert errors["P005"] == ("not deleted at the source: iCloud answered with the "
                              "record not marked deleted")
    media, proofs = rows["P001"]
    assert media.source_deleted_at is not None and proofs == 1


# -- CloudKit's word, at the source -------------------------------------------------------

@pytest.fixture
def candidates(source: ICloudSource) -> dict[str, MediaFile]:
    assets = [a for a in source.list_assets() if a.extra["record"] < "A00010"]
    return {a.source_id: as_proven_file(a, n) for n, a in enumerate(assets, 1)}


@pytest.mark.parametrize(("answer", "reason"), [
    ("empty", "iCloud's answer did not confirm the delete (it answered {})"),
    ("unchanged", "iCloud answered with the record not marked deleted"),
    ("SERVER_REJECTED_REQUEST", "refused by iCloud (SERVER_REJECTED_REQUEST)"),
])
def test_a_delete_counts_only_when_icloud_returns_the_record_deleted(
        source: ICloudSource, server: FakeICloud, candidates: dict[str, MediaFile],
        answer: str, reason: str) -> None:
    server.answer_delete("A00009", answer)  # the live photo: both its files stay
    outcomes = {o.source_id: o for o in source.delete(gate(list(candidates.values())))}
    assert [(o.deleted, o.reason) for o in (outcomes["A00009"], outcomes["A00009:live"])] \
        == [(False, reason)] * 2
    assert sum(o.deleted for o in outcomes.values()) == 9
    assert server.deleted() == [f"A{i:05d}" for i in range(9)]


def test_a_file_listed_before_its_parts_were_recorded_is_not_deleted(
        source: ICloudSource, server: FakeICloud, candidates: dict[str, MediaFile]) -> None:
    file = candidates["A00000"]
    old_row = dataclasses.replace(file, source_meta={
        k: v for k, v in file.source_meta.items() if k != "unarchived_parts"})
    [outcome] = source.delete([old_row])
    assert not outcome.deleted and "parts at the source were not recorded" in outcome.reason
    assert server.requests("records/modify") == []


# -- still_present -----------------------------------------------------------------------

def test_still_present_asks_icloud_in_batches(source: ICloudSource, server: FakeICloud,
                                             candidates: dict[str, MediaFile],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(icloud, "LOOKUP_BATCH", 4)
    files = list(candidates.values())
    source.delete([candidates["A00001"], candidates["A00002"]])  # to Recently Deleted
    server.purge("A00002")  # ... and out of it for good
    server.purge("A00003")  # deleted by hand, emptied from Recently Deleted
    server.state.photos["A00004"].deleted = True  # deleted by hand, still recoverable
    present = source.still_present(files)
    gone = {"A00001", "A00002", "A00003", "A00004"}
    assert present == {f.source_id for f in files if f.source_id[:6] not in gone}
    assert "A00009:live" in present  # the live photo's two files share one record
    lookups = server.requests("records/lookup")
    assert len(lookups) == 3  # ten records, four at a time
    assert sorted(r["recordName"] for q in lookups for r in q.body["records"]) == \
        [f"A{i:05d}" for i in range(10)]


def test_still_present_counts_an_unclear_answer_as_present(
        source: ICloudSource, server: FakeICloud, candidates: dict[str, MediaFile]) -> None:
    server.answer_delete("A00000", "empty")  # lookups are not affected by that
    files = [candidates["A00000"], candidates["A00001"]]
    assert source.still_present(files) == {"A00000", "A00001"}
    assert source.still_present([]) == set()


def test_still_present_goes_by_record_and_zone(source: ICloudSource, server: FakeICloud,
                                               tmp_path: Path) -> None:
    zone = server.enable_shared_library()
    shared = FakePhoto("S1", "SHARED.JPG", b"shared", OLDER, zone=zone)
    server.add_photos([shared])
    file = MediaFile(source="icloud", source_id="S1", filename="SHARED.JPG",
                     source_meta={"record": "S1", "zone": {"zoneName": zone}})
    assert source.still_present([file]) == {"S1"}
    [lookup] = server.requests("records/lookup")
    assert lookup.body["zoneID"]["zoneName"] == zone


def test_still_present_waits_out_a_503_like_every_icloud_call(
        source: ICloudSource, server: FakeICloud, candidates: dict[str, MediaFile]) -> None:
    server.fail("records/lookup", 503, times=1, retry_after=0.01)
    assert source.still_present([candidates["A00000"]]) == {"A00000"}
    assert len(server.requests("records/lookup")) == 2 and source.throttled == 1
