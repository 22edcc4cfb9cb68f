"""Reading CloudKit's answers, on records shaped as real ones: what confirms a delete,
what counts as gone, which parts an asset holds."""

from __future__ import annotations

from typing import Any

import pytest
from pyicloud.common.cloudkit import CKRecord
from pyicloud.common.cloudkit.models import CKLookupResponse, CKModifyResponse

from mediasync.sources.icloud_records import gone_records, unarchived_parts, unconfirmed_delete

ZONE = {"zoneName": "PrimarySync", "ownerRecordName": "_owner"}


def asset(name: str, tag: str | None = "49lj", **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "recordName": name, "recordType": "CPLAsset", "deleted": False, "zoneID": ZONE,
        "fields": {key: {"value": value, "type": "INT64" if isinstance(value, int)
                         else "STRING"} for key, value in fields.items()}}
    if tag is not None:
        record["recordChangeTag"] = tag
    return record


def modify_answer(*records: dict[str, Any]) -> CKModifyResponse:
    return CKModifyResponse.model_validate({"records": list(records)})


@pytest.mark.parametrize(("records", "reason"), [
    ([asset("A", isDeleted=1)], None),
    ([asset("A")], None),  # a save answered without its fields: the new tag says it
    ([{"recordName": "A", "deleted": True, "zoneID": ZONE}], None),  # a tombstone
    ([], "iCloud's answer did not confirm the delete (it answered {})"),
    ([asset("B", isDeleted=1)],
     "iCloud's answer did not confirm the delete (it answered 1 other record(s))"),
    ([asset("A", isDeleted=0)], "iCloud answered with the record not marked deleted"),
    ([asset("A", tag="49lh", isDeleted=1)], "iCloud answered with the record unchanged"),
    ([asset("A", tag=None, isDeleted=1)], "iCloud answered with the record unchanged"),
    ([{"recordName": "A", "serverErrorCode": "OP_LOCK_FAILURE", "reason": "x"}],
     "refused by iCloud (OP_LOCK_FAILURE)"),
])
def test_what_confirms_a_delete(records: list[dict[str, Any]], reason: str | None) -> None:
    assert unconfirmed_delete(modify_answer(*records), "A", "49lh") == reason


def test_gone_is_a_tombstone_not_found_recently_deleted_or_expunged() -> None:
    answer = CKLookupResponse.model_validate({"records": [
        asset("HELD", isDeleted=0), asset("TRASHED", isDeleted=1),
        asset("EXPUNGED", isDeleted=1, isExpunged=1),
        {"recordName": "TOMB", "deleted": True, "zoneID": ZONE},
        {"recordName": "MISSING", "serverErrorCode": "NOT_FOUND", "reason": "Record not found"},
        {"recordName": "BUSY", "serverErrorCode": "TRY_AGAIN_LATER", "reason": "busy"},
    ]})
    assert gone_records(answer) == {"TRASHED", "EXPUNGED", "TOMB", "MISSING"}


def master(**fields: Any) -> CKRecord:
    return CKRecord.model_validate({"recordName": "M", "recordType": "CPLMaster",
                                    "fields": fields})


def token(size: int = 10) -> dict[str, Any]:
    return {"value": {"fileChecksum": "c", "size": size, "downloadURL": "https://x/y"},
            "type": "ASSETID"}


def test_parts_as_photos_records_them() -> None:
    plain = CKRecord.model_validate(asset("A", isFavorite=0))
    raw = master(resOriginalRes=token(), resOriginalAltRes=token(),
                 resOriginalAltFileType={"value": "public.jpeg", "type": "STRING"})
    # as recorded: a RAW+JPEG asset with an edit rendition but no adjustmentType
    rendered = CKRecord.model_validate({**asset("B"), "fields": {"resJPEGFullRes": token()}})
    adjusted = CKRecord.model_validate(asset("C", adjustmentType="com.apple.photo"))
    sidecar = master(resOriginalRes=token(), resSidecarRes=token())
    assert unarchived_parts(master(resOriginalRes=token()), plain) == []
    assert unarchived_parts(raw, rendered) == ["alternative original", "edit"]
    assert unarchived_parts(master(resOriginalRes=token()), adjusted) == ["edit"]
    assert unarchived_parts(sidecar, plain) == ["sidecar"]
