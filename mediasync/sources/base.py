"""What every source (folder, iCloud, Supabase bucket, ...) offers the pipeline."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from mediasync.model import MediaFile, SourceAsset


@dataclass(frozen=True)
class SourceFeatures:
    """Optional abilities, declared rather than probed."""

    can_delete: bool = False
    deletes_are_recoverable: bool = False  # e.g. iCloud's Recently Deleted
    # The SourceAsset.extra key whose value changes when a file's bytes change under the
    # same id (an mtime, an ETag); None for a source whose ids never get new bytes.
    change_tag: str | None = None
    # True: the source knows which files make one asset. It lists a live photo's image and
    # video one after the other under one group_id, and names the parts it does not hand
    # out (a sidecar, an edit) in extra[UNARCHIVED_PARTS]. False: every file is an asset
    # of its own, typed by its name (a sidecar is one that step 1 leaves at the source),
    # and step 5 pairs a live photo's image and video by their names.
    groups_files: bool = False


@dataclass(frozen=True)
class Downloaded:
    """What a finished download proved: the bytes on disk, their size and sha256."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class DeleteOutcome:
    """The source's word on one delete: `deleted` only when its answer confirms it (the
    record returned deleted, the key in the list removed, the path gone afterwards)."""

    source_id: str
    deleted: bool
    reason: str | None = None  # why not, when not: the source's answer


@dataclass(frozen=True)
class PassedOver:
    """An entry a listing met and does not import (a symlink, a hidden folder, a FIFO)."""

    path: str  # relative to the source's root, for people to read
    reason: str


@runtime_checkable
class Source(Protocol):
    name: str  # the `source` column of the ledger, e.g. "folder:/home/me/Pictures"
    features: SourceFeatures
    parallel_downloads: int  # how many `download` calls step 1 may run at once

    def list_assets(self, known: Iterable[str] = ()) -> Iterator[SourceAsset]:
        """Yield every asset, newest first where the source can tell, the files of a group
        one after the other. `known` holds source ids the ledger already has. Step 1 lists
        in a thread of its own while it downloads."""
        ...

    def download(self, asset: SourceAsset, dest: Path) -> Downloaded:
        """Write the asset's bytes to `dest` atomically (temp file, fsync, rename), checking
        the size against what was announced. Raises FileProblem for a bad asset and
        SourceError/AuthError/RateLimited when the source itself fails."""
        ...

    def delete(self, files: Sequence[MediaFile]) -> list[DeleteOutcome]:
        """Delete by source id (never by name). Only called after every safety gate passed."""
        ...


@runtime_checkable
class RecentFirstSource(Protocol):
    """Optional: a source that lists newest first and can stop once it meets assets the
    ledger has (iCloud). Step 1 lets it stop early only when the last listing for the
    source ran to its end with the same scope (see pipeline/listing.py)."""

    @property
    def listing_scope(self) -> str:
        """What one complete listing covers (library, album, filters)."""
        ...

    def list_recent(self, known: Iterable[str]) -> Iterator[SourceAsset]:
        """Like list_assets, but may stop after assets the ledger has."""
        ...


@runtime_checkable
class ListingNotes(Protocol):
    """Optional: a source whose listing meets entries it does not import (a folder's
    symlinks, FIFOs, hidden folders). Step 1 and the doctor count them by reason, so
    that nothing is left behind in silence."""

    @property
    def passed_over(self) -> list[PassedOver]:
        """What the last listing met and did not import, in the order met."""
        ...


@runtime_checkable
class ExpiringSession(Protocol):
    """Optional: a source whose stored sign-in ends some day (iCloud)."""

    def session_expires(self) -> datetime | None:
        """About when runs stop working without a new sign-in; None when unknown."""
        ...

    @property
    def warn_days_before_expiry(self) -> float:
        """How long before that step 1 alerts (0: never)."""
        ...


@runtime_checkable
class SourceHealth(Protocol):
    """Optional: what a source can tell the deletion circuit breaker about itself."""

    @property
    def throttled(self) -> int:
        """503/429-like answers so far in this run."""
        ...

    def count_assets(self) -> int:
        """How many assets the source holds now, by its own count."""
        ...


@runtime_checkable
class PresenceCheck(Protocol):
    """Optional: a source that can say which files it still holds. Step 7 asks it about
    deletes a killed run left unanswered (open intents) before it deletes anything."""

    def still_present(self, files: Sequence[MediaFile]) -> set[str]:
        """Source ids among `files` that the source still holds, asked now."""
        ...
