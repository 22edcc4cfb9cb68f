"""What CloudKit's records say, read in one place: which parts of an asset mediasync does
not archive, whether a records/modify answer confirms a delete, and whether a looked-up
record is still in the library.

Field names are those of real CloudKit answers: a RAW+JPEG master keeps the JPEG as
`resOriginalAlt*`; an edit made in Photos leaves `adjustmentType` on the CPLAsset and the
rendered result beside it (`resJPEGFull*` for a photo, `resVidFull*` for a video or a live
photo's motion); a live photo's MOV is the master's `resOriginalVidCompl*`, which is
archived as the asset's second file.
"""

from __future__ import annotations

from pyicloud.common.cloudkit import CKRecord
from pyicloud.common.cloudkit.models import (
    CKErrorItem,
    CKLookupResponse,
    CKModifyResponse,
    CKTombstoneRecord,
)

ALTERNATIVE, EDITED, SIDECAR = "alternative original", "edit", "sidecar"

_EDIT_RENDITIONS = ("resJPEGFullRes", "resVidFullRes")


def unarchived_parts(master: CKRecord, asset: CKRecord) -> list[str]:
    """The asset's parts beyond its original (and a live photo's MOV), which mediasync
    does not download yet."""
    parts = []
    if master.fields.get_value("resOriginalAltRes") is not None:
        parts.append(ALTERNATIVE)
    if asset.fields.get_value("adjustmentType") or any(
            asset.fields.get_value(key) is not None for key in _EDIT_RENDITIONS):
        parts.append(EDITED)
    if master.fields.get_value("resSidecarRes") is not None:
        parts.append(SIDECAR)
    return parts


def unconfirmed_delete(answer: CKModifyResponse, record: str, sent_tag: str) -> str | None:
    """Why the records/modify answer does not show `record` deleted, or None when it does:
    the record is back with a new change tag (our atomic update was saved) and, when the
    answer carries the field, marked deleted; or it is back as a tombstone."""
    entry = next((r for r in answer.records if r.recordName == record), None)
    if entry is None:
        return f"iCloud's answer did not confirm the delete ({_summary(answer)})"
    if isinstance(entry, CKTombstoneRecord):
        return None
    if isinstance(entry, CKErrorItem):
        return f"refused by iCloud ({entry.serverErrorCode})"
    if entry.fields.get_value("isDeleted") not in (1, None):
        return "iCloud answered with the record not marked deleted"
    if not entry.recordChangeTag or entry.recordChangeTag == sent_tag:
        return "iCloud answered with the record unchanged"
    return None


def gone_records(answer: CKLookupResponse) -> set[str]:
    """Record names the library no longer holds: a tombstone, NOT_FOUND, or a record in
    Recently Deleted (isDeleted) or expunged. Any other answer, or none, says nothing, so
    the caller counts that record as still there."""
    gone = set()
    for entry in answer.records:
        if isinstance(entry, CKTombstoneRecord):
            gone.add(entry.recordName)
        elif isinstance(entry, CKErrorItem):
            if entry.serverErrorCode == "NOT_FOUND" and entry.recordName:
                gone.add(entry.recordName)
        elif entry.fields.get_value("isDeleted") or entry.fields.get_value("isExpunged"):
            gone.add(entry.recordName)
    return gone


def _summary(answer: CKModifyResponse) -> str:
    """The answer's shape, never its content (it can carry identifiers and URLs)."""
    if not answer.records:
        return "it answered {}"
    return f"it answered {len(answer.records)} other record(s)"
