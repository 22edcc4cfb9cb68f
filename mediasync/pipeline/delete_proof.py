"""The proof at delete time (README, "Safety"): right before a batch is deleted
at the source, every copy the deletion relies on is asked again, now. What step 4 or
step 3 recorded is what to expect, never the proof itself: a NAS copy removed or
overwritten since then must stop the delete.

A proof is a list of checks, each asked only about the files every earlier check passed.
Each check also says where a file it refuses goes back to: a lost archive copy is
archived again; a Pixel copy the phone no longer holds at the proven version is placed
and verified again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Protocol

from mediasync.model import MediaFile, Stage, StageChange
from mediasync.nas import identity as archive_identity
from mediasync.nas.archive import ArchiveTarget
from mediasync.pipeline.archive import input_stages, nas_archive
from mediasync.pipeline.common import plan_row
from mediasync.pipeline.context import RunContext
from mediasync.pixel.phone import HELD, PixelTarget, judge, stat_now
from mediasync.pixel.syncthing import SyncthingClient, short_id


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


class PixelCopies:
    """Each file's Pixel copy is, now, held by the phone at the version step 3 proved:
    Syncthing's index says the device holds this computer's current version of the file,
    and that version is the recorded one. A copy step 8 released on purpose (pixel_path
    cleared after `pixel_keep_hours`) is not asked about: the phone held it for that long
    and was then told to free it; the deletion gate still asks for the recorded proof.

    Syncthing knows what the phone last announced, not its disk this second: a change the
    phone has not scanned yet is not seen (README, "Safety")."""

    kept_as = "Pixel copy lost: sent back to the Pixel folder"

    def __init__(self, client: SyncthingClient, target: PixelTarget) -> None:
        self.client = client
        self.target = target

    def sent_back(self, ctx: RunContext, media: MediaFile, why: str) -> StageChange:
        return resync(ctx, media, why)

    def refusals(self, files: Sequence[MediaFile]) -> dict[int, str]:
        placed = [m for m in files if m.id is not None and m.pixel_path]
        if not placed:
            return {}
        need = self.client.remote_need(self.target.folder_id, self.target.device_id)
        return {m.id: why for m in placed  # type: ignore[misc]
                if (why := self._why_not(m, need)) is not None}

    def _why_not(self, media: MediaFile, need: set[str]) -> str | None:
        path = Path(media.pixel_path or "")
        device = short_id(self.target.device_id)
        if not path.is_relative_to(self.target.folder):
            return f"pixel_path {path} is not in the Pixel folder {self.target.folder}"
        name = self.target.name_of(path)
        if name in need:
            return f"device {device} no longer holds {name}"
        state = stat_now(path)
        if state is None:
            return f"{name} is gone from the Pixel folder"
        verdict = judge(self.client.file_info(self.target.folder_id, name),
                        self.target.device_id, state)
        if verdict.reason != HELD:
            return f"device {device} does not hold {name} now: {verdict.reason}"
        if verdict.version != media.pixel_version:
            return (f"device {device} holds {name} at version {verdict.version}, "
                    f"not the proven {media.pixel_version}")
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
        self._syncthing: SyncthingClient | None = None

    def __enter__(self) -> DeleteTimeProof:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._archive is not None:
            self._archive.close()
        if self._syncthing is not None:
            self._syncthing.close()

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
            self._checks = [ArchiveCopies(self._archive)]
            if self.ctx.settings.pixel_enabled:
                self._syncthing = SyncthingClient.from_settings(self.ctx.settings.syncthing)
                target = PixelTarget.from_settings(self.ctx.settings)
                self._checks.append(PixelCopies(self._syncthing, target))
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
    return _send_back(media, f"archived copy lost: {why}", input_stages(ctx)[0],
                      {"nas_archived": False, "nas_path": None, "nas_hash": None},
                      "archived again")


def resync(ctx: RunContext, media: MediaFile, why: str) -> StageChange:
    """A file the phone no longer holds at the proven version goes back to step 2, which
    places it in the Pixel folder again (the copy already there counts when it is the same
    bytes), and step 3 proves it anew; without a working copy it is downloaded again."""
    return _send_back(media, f"Pixel copy lost: {why}", Stage.DOWNLOADED,
                      {"pixel_synced": False, "pixel_version": None}, "placed on the Pixel again")


def _send_back(media: MediaFile, lost: str, stage: Stage, updates: dict[str, Any],
               again: str) -> StageChange:
    assert media.id is not None
    updates = {**updates, "icloud_delete_ready": False,
               "error": f"not deleted at the source: {lost}"}
    working = media.working_path
    if working is not None and working.is_file():
        return StageChange(media.id, stage, updates,
                           detail=f"{lost}; to be {again} from {working.name}")
    # step 1 retries a failed file with no stage and no working copy
    updates.update(local_path=None, failed_stage=None, attempts=0)
    return StageChange(media.id, Stage.FAILED, updates,
                       detail=f"{lost}; to be downloaded again")
