"""The proof at delete time (README, "Safety"): right before a batch is deleted
at the source, every copy the deletion relies on is asked again, now. What step 4 or
step 3 recorded is what to expect, never the proof itself: a NAS copy removed or
overwritten since then must stop the delete.

A proof is a list of checks, each asked only about the files every earlier check passed.
Each check also says where a file it refuses goes back to: a lost archive copy is
archived again. The Pixel's copy (Syncthing's `/rest/db/file`: the phone still holds the
recorded version) is meant to be the second `CopyCheck`, sending a file the phone lost
back to Pixel sync; it is not written yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Protocol

from mediasync.model import MediaFile, Stage, StageChange
from mediasync.nas import identity as archive_identity
from mediasync.nas.archive import ArchiveTarget
from mediasync.pipeline.archive import input_stages, nas_archive
from mediasync.pipeline.common import plan_row
from mediasync.pipeline.context import RunContext


class CopyCheck(Protocol):
    kept_as: str  # how the step's message counts the files it refused

    def refusals(self, files: Sequence[MediaFile]) -> dict[int, str]:
        """Why each file that fails fails, by ledger id; files that pass are absent."""
        ...

    def sent_back(self, ctx: RunContext, media: MediaFile, why: str) -> StageChange:
        """Where a refused file goes to get that copy again, with why in the ledger."""
        ...


@dataclass(frozen=True)
class Refusal:
    why: str
    check: CopyCheck


@dataclass
class Proof:
    passed: list[MediaFile] = field(default_factory=list)
    refused: dict[int, Refusal] = field(default_factory=dict)  # by ledger id


def prove_now(files: Sequence[MediaFile], checks: Sequence[CopyCheck]) -> Proof:
    """Ask every check about the files still standing; a file passes only all of them."""
    proof = Proof(passed=list(files))
    for check in checks:
        if not proof.passed:
            break
        refused = check.refusals(proof.passed)
        proof.refused.update({i: Refusal(why, check) for i, why in refused.items()})
        proof.passed = [m for m in proof.passed if m.id not in refused]
    return proof


class ArchiveCopies:
    """Each file's archived copy is under the archive root and re-reads, now, to the hash
    of the bytes downloaded from the source; the archive reads a batch as fast as it can
    (two files at a time on a mounted NAS, one round trip to the server's hasher over
    SFTP)."""

    kept_as = "archived copy lost: sent back to be archived again"

    def __init__(self, archive: ArchiveTarget) -> None:
        self.archive = archive

    def sent_back(self, ctx: RunContext, media: MediaFile, why: str) -> StageChange:
        return rearchive(ctx, media, why)

    def refusals(self, files: Sequence[MediaFile]) -> dict[int, str]:
        reasons = {m.id: self._unreadable(m) for m in files if m.id is not None}
        readable = [m for m in files if m.id is not None and reasons[m.id] is None]
        digests = self.archive.reread_all([PurePath(m.nas_path or "") for m in readable])
        for media, digest in zip(readable, digests, strict=True):
            reasons[media.id] = _why_not(media, digest)  # type: ignore[index]
        return {i: why for i, why in reasons.items() if why is not None}

    def _unreadable(self, media: MediaFile) -> str | None:
        if not (media.nas_path and media.content_hash):
            return "no archived copy recorded"
        path = PurePath(media.nas_path)
        if not path.is_relative_to(self.archive.root):
            return f"archived copy {path} is not under the archive root {self.archive.root}"
        return None


def _why_not(media: MediaFile, digest: str | None) -> str | None:
    if digest is None:
        return f"archived copy {media.nas_path} is missing"
    if digest != media.content_hash:
        return f"archived copy {media.nas_path} no longer reads back to the downloaded bytes"
    return None


class DeleteTimeProof:
    """Step 7's proof, opened once for the step and asked before each delete batch:

        with DeleteTimeProof(ctx) as proof:
            batch = proof.keep_proven(batch)

    Opening checks that the archive is the archive (its marker holds the id the ledger
    recorded): ArchiveError halts the step before anything is deleted."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.kept: list[str] = []  # why files were kept at the source, for the message
        self.planned: list[dict[str, Any]] = []  # a dry run's rows for what it refused
        self._archive: ArchiveTarget | None = None
        self._checks: list[CopyCheck] = []

    def __enter__(self) -> DeleteTimeProof:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._archive is not None:
            self._archive.close()

    def keep_proven(self, files: Sequence[MediaFile]) -> list[MediaFile]:
        """The files whose every copy proves good now, less whole groups of those that do
        not. Files that fail are sent back to be archived again (not in a dry run)."""
        if not files:
            return []
        proof = prove_now(files, self._opened())
        if proof.refused:
            self._send_back([m for m in files if m.id in proof.refused], proof.refused)
        refused_groups = {m.group_id: proof.refused[m.id].why for m in files
                          if m.group_id and m.id in proof.refused}
        keep: list[MediaFile] = []
        for media in proof.passed:
            if media.group_id in refused_groups:
                self.kept.append(f"its group is not ready: {refused_groups[media.group_id]}")
            else:
                keep.append(media)
        return keep

    def _opened(self) -> list[CopyCheck]:
        if self._archive is None:
            self._archive = nas_archive(self.ctx)
            archive_identity.ensure(self.ctx.ledger, self._archive, self.ctx.run_id,
                                    self.ctx.dry_run)
            if not self.ctx.dry_run:  # its probe is a write; without it, copies are read back
                self._archive.check()  # as step 4 does: how copies are re-read
            # the Pixel's copy (issue 20) is the next check of the same proof
            self._checks = [ArchiveCopies(self._archive)]
        return self._checks

    def _send_back(self, files: Sequence[MediaFile], refused: dict[int, Refusal]) -> None:
        refusals = [refused[m.id] for m in files if m.id is not None]
        changes = [r.check.sent_back(self.ctx, m, r.why)
                   for m, r in zip(files, refusals, strict=True)]
        self.kept += [r.check.kept_as for r in refusals]
        if self.ctx.dry_run:
            self.planned += [plan_row(m, f"keep at the source: {c.detail}")
                             for m, c in zip(files, changes, strict=True)]
        else:
            self.ctx.ledger.apply(changes, self.ctx.run_id)


def rearchive(ctx: RunContext, media: MediaFile, why: str) -> StageChange:
    """A file whose archived copy failed the proof goes back to be archived again: from
    its working copy by step 4 when that is still there (a wrong copy in the archive keeps
    its name: the new one gets a distinct name), else downloaded again by step 1."""
    assert media.id is not None
    lost = f"archived copy lost: {why}"
    updates: dict[str, Any] = {"nas_archived": False, "nas_path": None, "nas_hash": None,
                               "icloud_delete_ready": False,
                               "error": f"not deleted at the source: {lost}"}
    working = media.working_path
    if working is not None and working.is_file():
        return StageChange(media.id, input_stages(ctx)[0], updates,
                           detail=f"{lost}; to be archived again from {working.name}")
    # step 1 retries a failed file with no stage and no working copy
    updates.update(local_path=None, failed_stage=None, attempts=0)
    return StageChange(media.id, Stage.FAILED, updates,
                       detail=f"{lost}; to be downloaded again")
