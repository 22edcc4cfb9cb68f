"""The deletion gate, one gate at a time. Pure: no server, no ledger."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from mediasync.errors import UnsafeDelete
from mediasync.ledger.base import DeleteAnswer, DeletionState
from mediasync.model import MediaFile, Stage
from mediasync.pipeline.deletion import (
    MAX_THROTTLED,
    DeletePolicy,
    SourceSignals,
    answers,
    decide,
    deletion_enabled,
    intents,
)
from mediasync.settings import DeleteGuards, Settings
from mediasync.sources.base import DeleteOutcome

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=400)


def proven(source_id: str = "A1", **changes: object) -> MediaFile:
    """A file that passes every gate."""
    file = MediaFile(
        source="icloud:user", source_id=source_id, filename=f"{source_id}.HEIC", id=1,
        workflow_stage=Stage.ICLOUD_DELETE_READY, size=10, content_hash="h",
        captured_at=OLD, nas_archived=True, nas_path=f"/nas/{source_id}", nas_hash="h",
        pixel_synced=True, pixel_version="dev:7",
        source_meta={"record": source_id, "change_tag": "1"})
    return dataclasses.replace(file, **changes)


def policy(**changes: object) -> DeletePolicy:
    guards = DeleteGuards(**{k: changes.pop(k) for k in list(changes)
                             if k in DeleteGuards.model_fields})
    base = DeletePolicy(enabled=True, dry_run=False, pixel_required=True, guards=guards,
                        now=NOW)
    return dataclasses.replace(base, **changes)


def reasons(files: list[MediaFile], pol: DeletePolicy | None = None,
            signals: SourceSignals | None = None) -> list[str | None]:
    return [d.reason for d in decide(files, pol or policy(), signals or SourceSignals())]


def test_a_proven_file_is_allowed() -> None:
    decisions = decide([proven()], policy())
    assert [(d.allowed, d.reason) for d in decisions] == [(True, None)]


def test_refused_when_deletion_is_off() -> None:
    assert reasons([proven()], policy(enabled=False)) == ["source deletion is off"]


def test_refused_in_a_dry_run() -> None:
    assert reasons([proven()], policy(dry_run=True)) == ["dry run"]


@pytest.mark.parametrize("changes", [
    {"nas_archived": False}, {"nas_path": None}, {"nas_hash": None}])
def test_refused_before_nas_verification(changes: dict[str, object]) -> None:
    assert reasons([proven(**changes)]) == ["NAS copy not verified"]


def test_refused_when_nas_hash_differs() -> None:
    assert reasons([proven(nas_hash="other")]) == [
        "NAS copy hash differs from the downloaded bytes"]


@pytest.mark.parametrize("changes", [{"content_hash": None}, {"size": None}])
def test_refused_without_the_downloaded_bytes_recorded(changes: dict[str, object]) -> None:
    assert reasons([proven(**changes)]) == ["downloaded bytes not recorded"]


@pytest.mark.parametrize("changes", [{"pixel_synced": False}, {"pixel_version": None}])
def test_refused_before_pixel_verification_when_pixel_is_on(
        changes: dict[str, object]) -> None:
    file = proven(**changes)
    assert reasons([file]) == ["Pixel has not been seen holding this version"]
    assert reasons([file], policy(pixel_required=False)) == [None]


def test_favourites_are_kept_unless_allowed() -> None:
    file = proven(favorite=True)
    assert reasons([file]) == ["favourite"]
    assert reasons([file], policy(skip_favorites=False)) == [None]


def test_recent_files_are_kept() -> None:
    recent = proven(captured_at=NOW - timedelta(days=29))
    assert reasons([recent]) == ["newer than keep_recent_days (30)"]
    assert reasons([proven(captured_at=NOW - timedelta(days=31))]) == [None]
    assert reasons([recent], policy(keep_recent_days=0)) == [None]


def test_unknown_age_uses_the_ledger_date_or_refuses() -> None:
    assert reasons([proven(captured_at=None, created_at=OLD)]) == [None]
    assert reasons([proven(captured_at=None)]) == ["capture time unknown"]


@pytest.mark.parametrize("changes", [{"source_deleted_at": OLD},
                                     {"workflow_stage": Stage.FAILED}])
def test_done_or_failed_files_are_refused(changes: dict[str, object]) -> None:
    assert reasons([proven(**changes)]) != [None]


def test_cap_allows_the_oldest_first() -> None:
    files = [proven(f"A{i}", captured_at=OLD + timedelta(days=i)) for i in range(5)]
    decided = decide(list(reversed(files)), policy(max_deletes_per_run=2))
    assert sorted(d.file.source_id for d in decided if d.allowed) == ["A0", "A1"]
    assert {d.reason for d in decided if not d.allowed} == {"over max_deletes_per_run (2)"}


def test_a_live_photo_counts_once_against_the_cap() -> None:
    pair = [proven("L", group_id="L", source_meta={"group_size": 2}),
            proven("L:live", group_id="L", source_meta={"group_size": 2})]
    assert reasons([*pair, proven("B", captured_at=OLD + timedelta(days=1))],
                   policy(max_deletes_per_run=1)) == [None, None,
                                                      "over max_deletes_per_run (1)"]


def test_live_photo_waits_for_both_parts() -> None:
    image = proven("L", group_id="L", source_meta={"group_size": 2})
    video = proven("L:live", group_id="L", source_meta={"group_size": 2}, nas_hash=None)
    assert reasons([image, video]) == ["its group is not ready: NAS copy not verified",
                                       "NAS copy not verified"]


def test_live_photo_missing_its_partner_is_refused() -> None:
    image = proven("L", group_id="L", source_meta={"group_size": 2})
    assert reasons([image]) == [
        "its group is not ready: only 1 of the 2 files of its group are here"]


def test_an_asset_holding_unarchived_parts_is_kept_whole() -> None:
    raw = proven("R", source_meta={"unarchived_parts": ["alternative original"]})
    both = proven("B", source_meta={"unarchived_parts": ["edit", "alternative original"]})
    odd = proven("O", source_meta={"unarchived_parts": ["depth map"]})
    plain = proven("P", source_meta={"unarchived_parts": []})
    assert reasons([raw, both, odd, plain]) == [
        "has an alternative original (RAW+JPEG) that is not archived",
        "edited at the source (in Photos): the edit is not archived yet; has an "
        "alternative original (RAW+JPEG) that is not archived",
        "holds a depth map that is not archived",
        None]


def test_an_edited_live_photo_keeps_both_files() -> None:
    meta = {"group_size": 2, "unarchived_parts": ["edit"]}
    image = proven("L", group_id="L", source_meta=meta)
    video = proven("L:live", group_id="L", source_meta={"group_size": 2})
    assert reasons([image, video]) == [
        "edited at the source (in Photos): the edit is not archived yet",
        "its group is not ready: edited at the source (in Photos): the edit is not "
        "archived yet"]


def test_breaker_source_shrank() -> None:
    signals = SourceSignals(asset_count=70, previous_count=100)
    assert reasons([proven()], signals=signals) == [
        "circuit breaker: the source shrank from 100 to 70 assets (if that is right, run "
        "once with --accept-shrink)"]
    assert reasons([proven()], signals=SourceSignals(asset_count=85,
                                                     previous_count=100)) == [None]


def test_breaker_lets_an_accepted_shrink_through() -> None:
    signals = SourceSignals(asset_count=70, previous_count=100, shrink_accepted=True)
    assert reasons([proven()], signals=signals) == [None]
    # acceptance is for the shrink alone: the other breakers still hold
    assert reasons([proven()], signals=SourceSignals(
        asset_count=70, previous_count=100, shrink_accepted=True,
        session_in_doubt=True)) == ["circuit breaker: the source session is in doubt"]


def test_breaker_repeated_throttling() -> None:
    assert reasons([proven()], signals=SourceSignals(throttled=MAX_THROTTLED))[0].startswith(
        "circuit breaker: the source answered 503/429")
    assert reasons([proven()], signals=SourceSignals(throttled=MAX_THROTTLED - 1)) == [None]


def test_breaker_session_in_doubt() -> None:
    assert reasons([proven("A"), proven("B")],
                   signals=SourceSignals(session_in_doubt=True)) == [
        "circuit breaker: the source session is in doubt"] * 2


def test_icloud_has_its_own_switch() -> None:
    icloud = Settings(source={"kind": "icloud", "delete": True})
    assert not deletion_enabled(icloud)
    assert deletion_enabled(Settings(source={"kind": "icloud"}, icloud={"delete": True}))
    assert deletion_enabled(Settings(source={"kind": "folder", "delete": True}))


def test_policy_from_settings_reads_pixel_and_guards() -> None:
    settings = Settings(syncthing={"enabled": True}, guards={"max_deletes_per_run": 7})
    built = DeletePolicy.from_settings(settings, dry_run=True, now=NOW)
    assert (built.pixel_required, built.dry_run, built.enabled) == (True, True, False)
    assert built.guards.max_deletes_per_run == 7


def test_intents_carry_each_file_s_proof() -> None:
    made = intents([proven("A", id=1), proven("B", id=2)], run_id="run-1", at=NOW)
    assert [(p.file_id, p.source_id, p.nas_path, p.nas_hash, p.pixel_version, p.run_id,
             p.deleted_at, p.source, p.state) for p in made] == [
        (n, s, f"/nas/{s}", "h", "dev:7", "run-1", NOW, "icloud:user", DeletionState.INTENT)
        for n, s in ((1, "A"), (2, "B"))]


def test_only_an_outcome_that_says_deleted_confirms() -> None:
    files = [proven("A", id=1), proven("B", id=2), proven("C", id=3)]
    outcomes = [DeleteOutcome("A", True), DeleteOutcome("B", False, "CONFLICT")]
    assert answers(files, outcomes, at=NOW) == [
        DeleteAnswer(1, True, NOW), DeleteAnswer(2, False, NOW, "CONFLICT"),
        DeleteAnswer(3, False, NOW, "the source did not answer for it")]


def test_no_intent_without_a_ledger_id() -> None:
    with pytest.raises(UnsafeDelete):
        intents([proven("A", id=None)], run_id=None)


def test_refused_for_a_version_superseded_at_the_source() -> None:
    """Its source id now holds a newer version's bytes, which it never proved."""
    old = proven(source_id="a.jpg@0123456789ab-1",
                 source_meta={"superseded_at_source": {"run_id": "r2", "source_id": "a.jpg"}})
    assert reasons([old]) == ["superseded by a newer version at the source"]
