"""Deleting from iCloud: the gate decides, the source sends records/modify by record name
with the change tag, and the fake server shows exactly what reached iCloud."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from mediasync.model import MediaFile, SourceAsset, Stage
from mediasync.pipeline.deletion import DeletePolicy, SourceSignals, decide
from mediasync.settings import DeleteGuards, Settings
from mediasync.sources.icloud import ICloudSource
from tests.fakes.icloud_server import FakeICloud
from tests.icloud.conftest import sign_in

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def as_proven_file(asset: SourceAsset, file_id: int) -> MediaFile:
    """The ledger row of an asset that went through steps 1-6."""
    return MediaFile(
        source="icloud", source_id=asset.source_id, filename=asset.filename, id=file_id,
        workflow_stage=Stage.ICLOUD_DELETE_READY, size=asset.size, content_hash="h",
        captured_at=asset.created, favorite=asset.favorite, group_id=asset.group_id,
        nas_archived=True, nas_path=f"/nas/{asset.filename}", nas_hash="h",
        pixel_synced=True, pixel_version="dev:1",
        source_meta={k: v for k, v in asset.extra.items() if k != "url"})


@pytest.fixture
def candidates(source: ICloudSource) -> dict[str, MediaFile]:
    """The ten newest assets (one of them a live photo), as proven ledger rows."""
    assets = [a for a in source.list_assets() if a.extra["record"] < "A00010"]
    return {a.source_id: as_proven_file(a, n) for n, a in enumerate(assets, 1)}


def gate(files: list[MediaFile], **changes: object) -> list[MediaFile]:
    guards = DeleteGuards(keep_recent_days=0, delete_interval_seconds=0)
    policy = DeletePolicy(enabled=True, dry_run=False, pixel_required=True, guards=guards,
                          now=NOW)
    policy = dataclasses.replace(policy, **changes)
    return [d.file for d in decide(files, policy, SourceSignals()) if d.allowed]


def modify_operations(server: FakeICloud) -> list[dict[str, object]]:
    return [op for r in server.requests("records/modify") for op in r.body["operations"]]


def test_all_gates_passed_sends_exactly_the_expected_modify_calls(
        source: ICloudSource, server: FakeICloud, candidates: dict[str, MediaFile]) -> None:
    allowed = gate(list(candidates.values()))
    outcomes = source.delete(allowed)
    assert all(o.deleted for o in outcomes) and len(outcomes) == 11
    operations = modify_operations(server)
    # one call per asset record: the live photo's image and MOV go in one
    assert [op["record"]["recordName"] for op in operations] == \
        [f"A{i:05d}" for i in range(10)]
    assert {(op["operationType"], op["record"]["recordType"], op["record"]["recordChangeTag"],
             json.dumps(op["record"]["fields"])) for op in operations} == \
        {("update", "CPLAsset", "1", json.dumps({"isDeleted": {"type": "INT64", "value": 1}}))}
    assert len(server.requests("records/modify")) == 10
    assert not any("IMG_" in json.dumps(r.body) for r in server.requests("records/modify"))
    assert server.deleted() == [f"A{i:05d}" for i in range(10)]


@pytest.mark.parametrize("changes", [{"dry_run": True}, {"enabled": False}])
def test_nothing_deleted_when_the_run_may_not_delete(
        source: ICloudSource, server: FakeICloud, candidates: dict[str, MediaFile],
        changes: dict[str, object]) -> None:
    assert gate(list(candidates.values()), **changes) == []
    assert server.requests("records/modify") == []


@pytest.mark.parametrize(("field", "value"), [
    ("nas_hash", None), ("nas_archived", False), ("pixel_version", None),
    ("favorite", True), ("captured_at", NOW)])
def test_a_failing_gate_keeps_the_file(source: ICloudSource, server: FakeICloud,
                                       candidates: dict[str, MediaFile], field: str,
                                       value: object) -> None:
    files = list(candidates.values())
    files[0] = dataclasses.replace(files[0], **{field: value})
    guards = DeleteGuards(keep_recent_days=30, delete_interval_seconds=0)
    source.delete(gate(files, guards=guards))
    assert files[0].source_id not in server.deleted()
    assert len(server.deleted()) == 9


def test_cap_limits_the_modify_calls(source: ICloudSource, server: FakeICloud,
                                     candidates: dict[str, MediaFile]) -> None:
    guards = DeleteGuards(keep_recent_days=0, max_deletes_per_run=3)
    source.delete(gate(list(candidates.values()), guards=guards))
    # oldest first
    assert server.deleted() == ["A00007", "A00008", "A00009"]
    assert len(server.requests("records/modify")) == 3


def test_changed_on_icloud_is_skipped_with_a_reason(source: ICloudSource,
                                                    server: FakeICloud,
                                                    candidates: dict[str, MediaFile]) -> None:
    server.edit("A00002")
    outcomes = {o.source_id: o for o in source.delete(gate(list(candidates.values())))}
    assert not outcomes["A00002"].deleted
    assert "CONFLICT" in outcomes["A00002"].reason
    assert "A00002" not in server.deleted() and len(server.deleted()) == 9


def test_no_change_tag_no_delete(source: ICloudSource, server: FakeICloud,
                                 candidates: dict[str, MediaFile]) -> None:
    file = candidates["A00000"]
    untagged = dataclasses.replace(file, source_meta={"record": "A00000"})
    [outcome] = source.delete([untagged])
    assert not outcome.deleted and "change tag" in outcome.reason
    assert server.requests("records/modify") == []


def test_deletes_are_throttled_and_back_off(settings: Settings, server: FakeICloud,
                                            candidates: dict[str, MediaFile]) -> None:
    waits: list[float] = []
    source = ICloudSource(settings.model_copy(update={"guards": DeleteGuards(
        delete_interval_seconds=0.25)}), sleep=waits.append)
    server.fail("records/modify", 503, times=1, retry_after=0.04)
    files = [candidates["A00000"], candidates["A00001"], candidates["A00002"]]
    assert all(o.deleted for o in source.delete(files))
    assert waits == [0.04, 0.25, 0.25]
    assert server.deleted() == ["A00000", "A00001", "A00002"]


def test_session_lost_mid_way_stops_the_rest(settings: Settings, server: FakeICloud,
                                             candidates: dict[str, MediaFile]) -> None:
    sign_in(settings, server)
    source = ICloudSource(settings, sleep=lambda s: None)
    files = [candidates["A00000"], candidates["A00001"]]
    server.fail("records/modify", 401, times=5)
    outcomes = source.delete(files)
    assert [o.deleted for o in outcomes] == [False, False]
    assert all("mediasync icloud login" in o.reason for o in outcomes)
    assert server.deleted() == []
