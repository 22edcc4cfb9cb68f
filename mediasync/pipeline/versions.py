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
from pathlib import Path

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
        self.changed: set[str] = set()  # ids listed as changed and taken in this run
        self.same_bytes = 0  # ... of which turned out to hold the recorded bytes

    def is_changed(self, asset: SourceAsset) -> bool:
        """Whether the asset's bytes differ from its recorded version."""
        recorded = self._recorded.get(asset.source_id)
        if recorded is None or self._tag is None:
            return False
        return signature_differs(recorded, asset.size, asset.extra.get(self._tag))

    def settle(self, arrived: Sequence[MediaFile]) -> list[MediaFile]:
        """Retire the recorded versions of files that arrived again, which frees their ids
        for the new rows returned. The old rows are read one by one: only files that
        changed, rare next to a listing. A file whose bytes are those recorded (touched,
        or copied back, at the source) is no new version: its recorded change tag is
        brought up to date and its new working copy removed, unless the old row's bytes
        were deleted at the source already."""
        notes, new = [], []
        for media in arrived:
            old = self._ctx.ledger.find(self._ctx.source.name, media.source_id)
            if old is None or not old.content_hash:
                new.append(media)  # nothing recorded to retire
            elif (old.content_hash, old.size) == (media.content_hash, media.size) \
                    and old.source_deleted_at is None:
                # (bytes put back after we deleted them are a new row: deleted again once
                # proven, as the old row's proof is spent)
                notes.append(self._same_bytes(old, media))
            else:
                notes.append(retirement(old, self._ctx.run_id))
                new.append(media)
        self._ctx.ledger.note(notes, self._ctx.run_id)
        return new

    def _same_bytes(self, old: MediaFile, media: MediaFile) -> FileNote:
        assert old.id is not None and self._tag is not None
        self.same_bytes += 1
        if media.local_path:
            Path(media.local_path).unlink(missing_ok=True)
        tag = media.source_meta.get(self._tag)
        return FileNote(old.id, {"source_meta": {**old.source_meta, self._tag: tag}},
                        f"listed with a new {self._tag} ({tag}) but the same bytes, run"
                        f" {self._ctx.run_id}: not a new version")


def retirement(old: MediaFile, run_id: str | None) -> FileNote:
    assert old.id is not None and old.content_hash is not None
    # the hash says which version this was; the row id keeps it unique should the same
    # bytes come back under the same name and be superseded again
    retired_id = f"{old.source_id}@{old.content_hash[:12]}-{old.id}"
    meta = {**old.source_meta, SUPERSEDED: {"run_id": run_id, "source_id": old.source_id}}
    return FileNote(old.id, {"source_id": retired_id, "source_meta": meta},
                    f"superseded at the source by a newer version, run {run_id}: this"
                    " version stays archived and is never deleted at the source")
