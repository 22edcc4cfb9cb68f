"""A file whose bytes changed at the source under the same id is a new version.

Step 1 compares each listed asset of a source whose ids can get new bytes (a folder, an
SSH server, a bucket: `SourceFeatures.change_tag`) with the size and change tag recorded
when its last version was downloaded, all read in one ledger query. A changed asset is
downloaded as a new row; the old row is retired first: its source_id gets a version
suffix, so (source, source_id) stays unique, and source_meta says it was superseded. A
retired version keeps its archive copy and goes on through the pipeline if it was still
on its way, but is never deleted at the source: the bytes it proved are gone there.
"""

from __future__ import annotations

from collections.abc import Sequence

from mediasync.model import (
    SUPERSEDED,
    FileNote,
    MediaFile,
    Signature,
    SourceAsset,
    signature_differs,
)
from mediasync.pipeline.context import RunContext


class Versions:
    """The recorded versions of one source, and the changed assets seen in this listing."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self._tag = ctx.source.features.change_tag
        self._recorded: dict[str, Signature] = {} if self._tag is None \
            else ctx.ledger.source_signatures(ctx.source.name, self._tag)
        self.changed: set[str] = set()  # ids of new versions taken in this run

    def is_changed(self, asset: SourceAsset) -> bool:
        """Whether the asset's bytes differ from its recorded version."""
        recorded = self._recorded.get(asset.source_id)
        if recorded is None or self._tag is None:
            return False
        return signature_differs(recorded, asset.size, asset.extra.get(self._tag))

    def retire(self, source_ids: Sequence[str]) -> None:
        """Retire the recorded versions of these ids, so that their new bytes come in as
        new rows. Read one by one: only files that changed, rare next to a listing."""
        notes = []
        for source_id in source_ids:
            old = self._ctx.ledger.find(self._ctx.source.name, source_id)
            if old is not None and old.content_hash:
                notes.append(retirement(old, self._ctx.run_id))
        self._ctx.ledger.note(notes, self._ctx.run_id)


def retirement(old: MediaFile, run_id: str | None) -> FileNote:
    assert old.id is not None and old.content_hash is not None
    # the hash says which version this was; the row id keeps it unique should the same
    # bytes come back under the same name and be superseded again
    retired_id = f"{old.source_id}@{old.content_hash[:12]}-{old.id}"
    meta = {**old.source_meta, SUPERSEDED: {"run_id": run_id, "source_id": old.source_id}}
    return FileNote(old.id, {"source_id": retired_id, "source_meta": meta},
                    f"superseded at the source by a newer version, run {run_id}: this"
                    " version stays archived and is never deleted at the source")
