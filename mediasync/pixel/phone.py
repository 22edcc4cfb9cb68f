"""The Pixel phone: files placed in the folder Syncthing shares with it, and the proof that
the phone holds each one.

Placing is atomic (a hard link, or a copy under a name Syncthing skips, renamed into
place), so Syncthing never indexes a half-written file. A file counts as on the phone only
when Syncthing's own index says the device holds the exact version this computer has,
and this computer's version is what is on disk right now.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from mediasync.errors import ConfigError, DeviceNotConnected, FileProblem, SyncthingTimeout
from mediasync.files import (
    CHUNK,
    HashingWriter,
    fsync_dir,
    safe_filename,
    sha256_file,
    with_suffix_tag,
)
from mediasync.ledger.base import Ledger
from mediasync.model import MediaFile, Stage
from mediasync.naming import prefixed_name
from mediasync.pixel.syncthing import DeviceState, FileInfo, SyncthingClient, short_id
from mediasync.settings import Settings

# Syncthing's scanner skips its own temporary names: a copy written under one is invisible
# until the rename.
SYNCTHING_TEMP = ".syncthing.{}.tmp"
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}
WAKE_EVENTS = ("RemoteIndexUpdated", "LocalIndexUpdated", "DeviceConnected")
NAMES_IN_MESSAGE = 10

Progress = Callable[[int, int, str], None]  # (files confirmed, files waited for, name)


@dataclass(frozen=True)
class PixelTarget:
    """Where the phone's files go: the local folder and the Syncthing ids behind it."""

    folder: Path
    folder_id: str
    device_id: str
    prefix_names: bool = False  # workflow.prefix_final_names

    @classmethod
    def from_settings(cls, settings: Settings) -> PixelTarget:
        cfg = settings.syncthing
        if not cfg.folder_id or not cfg.device_id:
            raise ConfigError("syncthing.folder_id and syncthing.device_id must be set for "
                              "Pixel sync")
        workflow = settings.workflow
        return cls(settings.resolve(workflow.pixel_sync), cfg.folder_id, cfg.device_id,
                   workflow.prefix_final_names)

    def file_name(self, mf: MediaFile) -> str:
        """The name the phone sees: the original one, safe everywhere."""
        if self.prefix_names:
            return prefixed_name(2, mf.filename, mf.captured_at)
        return safe_filename(mf.filename)

    def name_of(self, path: Path) -> str:
        """The name Syncthing indexes the file under: relative to the folder, with '/'."""
        return path.relative_to(self.folder).as_posix()


# Step 2: placing ------------------------------------------------------------------------
def window_room(batch_size: int, in_flight: int) -> int:
    """How many more files may go to the phone: placed but unverified files count against
    the window of `batch_size`."""
    return max(0, batch_size - in_flight)


@dataclass
class Placement:
    placed: list[tuple[MediaFile, Path]] = field(default_factory=list)
    failed: list[tuple[MediaFile, FileProblem]] = field(default_factory=list)


def place_batch(client: SyncthingClient, target: PixelTarget,
                files: Sequence[MediaFile]) -> Placement:
    """Place each file (a bad one fails alone), then have Syncthing scan exactly those."""
    result = Placement()
    for mf in files:
        try:
            result.placed.append((mf, place(mf, target.folder, target.file_name(mf))))
        except FileProblem as exc:
            result.failed.append((mf, exc))
    client.scan(target.folder_id, [target.name_of(path) for _, path in result.placed])
    return result


def place(mf: MediaFile, folder: Path, name: str) -> Path:
    """Put the file's working copy into the Pixel folder under `name`.

    A name already taken by other content gets a distinct name; the same file already
    there (a run interrupted after placing) is reused, never duplicated.
    """
    src = mf.working_path
    if src is None or not src.is_file():
        raise FileProblem(f"{mf.label}: working copy missing at {src}", subject=src)
    folder.mkdir(parents=True, exist_ok=True)
    for dest in _candidates(folder / safe_filename(name), mf.content_hash):
        if dest.exists():
            if _is_same(src, dest, mf.content_hash):
                return dest
            continue
        try:
            _link_or_copy(src, dest, mf)
        except FileExistsError:
            continue  # taken between the check and the link: try the next name
        return dest
    raise AssertionError("unreachable: the candidate names never end")


def _candidates(dest: Path, content_hash: str | None) -> Iterator[Path]:
    yield dest
    tag = (content_hash or "copy")[:8]
    yield with_suffix_tag(dest, tag)
    n = 2
    while True:
        yield with_suffix_tag(dest, f"{tag}-{n}")
        n += 1


def _is_same(src: Path, dest: Path, content_hash: str | None) -> bool:
    if os.path.samefile(src, dest):
        return True
    return (content_hash is not None and dest.stat().st_size == src.stat().st_size
            and sha256_file(dest) == content_hash)


def _link_or_copy(src: Path, dest: Path, mf: MediaFile) -> None:
    try:
        os.link(src, dest)
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        _copy_in(src, dest, mf)
    fsync_dir(dest.parent)


def _copy_in(src: Path, dest: Path, mf: MediaFile) -> None:
    temp = dest.with_name(SYNCTHING_TEMP.format(dest.name))
    try:
        with open(src, "rb") as source, open(temp, "xb") as out:
            writer = HashingWriter(out)
            shutil.copyfileobj(source, writer, CHUNK)  # type: ignore[misc]
            out.flush()
            os.fsync(out.fileno())
        if mf.content_hash is not None and writer.sha256 != mf.content_hash:
            raise FileProblem(f"{mf.label}: copy into the Pixel folder does not match the "
                              "downloaded bytes", subject=src)
        if dest.exists():
            raise FileExistsError(errno.EEXIST, "taken", str(dest))
        os.rename(temp, dest)
    finally:
        temp.unlink(missing_ok=True)


# Step 3: verifying ----------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    version: str | None  # set when the device holds the file exactly as it is on disk
    reason: str
    rescan: bool = False  # Syncthing's record is behind the disk: scan the file again


HELD = "held"


def judge(info: FileInfo | None, device_id: str, on_disk: os.stat_result) -> Verdict:
    """Does Syncthing's index prove the device holds this file as it is on disk now?"""
    local = info.local if info else None
    if info is None or local is None or local.deleted:
        return Verdict(None, "not in Syncthing's index yet", rescan=True)
    if (local.size, local.modified_ns) != (on_disk.st_size, on_disk.st_mtime_ns):
        return Verdict(None, "changed since Syncthing last scanned it", rescan=True)
    if local.invalid:
        return Verdict(None, "ignored or invalid in Syncthing (check .stignore)")
    latest = info.global_
    if latest is None or latest.deleted or latest.version != local.version:
        return Verdict(None, "a different version is current in the cluster")
    held = dict(info.availability)
    if device_id not in held:
        return Verdict(None, "not on the device yet")
    if held[device_id]:
        return Verdict(None, "still arriving on the device")
    return Verdict(local.label, HELD)


@dataclass
class Verification:
    held: dict[str, str] = field(default_factory=dict)  # name -> version seen on the device
    waiting: dict[str, str] = field(default_factory=dict)  # name -> why not yet
    gone: list[str] = field(default_factory=list)  # no longer in the Pixel folder

    def timeout_error(self, seconds: float, device: DeviceState) -> SyncthingTimeout:
        names = [f"{name} ({why})" for name, why in sorted(self.waiting.items())]
        shown = ", ".join(names[:NAMES_IN_MESSAGE])
        if len(names) > NAMES_IN_MESSAGE:
            shown += f" and {len(names) - NAMES_IN_MESSAGE} more"
        kind = SyncthingTimeout if device.connected else DeviceNotConnected
        return kind(f"timed out after {seconds:g}s waiting for {len(names)} files to reach "
                    f"device {short_id(device.device_id)}: {shown}; {device.describe()}",
                    missing=sorted(self.waiting))


class DeviceWait:
    """Waits on Syncthing's events until the device holds every file, or time runs out.

    Each wake-up asks which files the device still needs (one request), then confirms
    the others one by one with /rest/db/file, so a file costs about one request.
    """

    def __init__(self, client: SyncthingClient, target: PixelTarget, names: Iterable[str],
                 *, rescan: bool = True, progress: Progress | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.target = target
        self.rescan = rescan  # off: read-only, e.g. for a dry run
        self.progress = progress
        self.clock = clock
        self.result = Verification(waiting={n: "not checked yet" for n in names})
        self._total = len(self.result.waiting)
        self._scanned: dict[str, tuple[int, int]] = {}

    def run(self, timeout: float, poll: float) -> Verification:
        since = self.client.latest_event_id(WAKE_EVENTS)  # before the check: nothing missed
        deadline = self.clock() + timeout
        self.check()
        while self.result.waiting and (left := deadline - self.clock()) > 0:
            events = self.client.events(WAKE_EVENTS, since, min(left, poll))
            since = events[-1].id if events else since
            if not events or any(self._wakes(e.type, e.data) for e in events):
                self.check()  # an empty answer is the poll interval: look anyway
        return self.result

    def check(self) -> None:
        """One look: which waiting files does the device hold now?"""
        need = self.client.remote_need(self.target.folder_id, self.target.device_id)
        to_scan = self._confirm(self._candidates(need))
        if to_scan and self.rescan:
            self.client.scan(self.target.folder_id, to_scan)

    def _candidates(self, need: set[str]) -> dict[str, os.stat_result]:
        """The waiting files the device no longer needs, with their state on disk."""
        waiting = self.result.waiting
        candidates: dict[str, os.stat_result] = {}
        for name in list(waiting):
            if name in need:
                waiting[name] = "not on the device yet"
            elif (on_disk := stat_now(self.target.folder / name)) is None:
                del waiting[name]
                self.result.gone.append(name)
            else:
                candidates[name] = on_disk
        return candidates

    def _confirm(self, candidates: dict[str, os.stat_result]) -> list[str]:
        """Judge each candidate on /rest/db/file; returns the names to scan again."""
        to_scan: list[str] = []
        for name, on_disk in candidates.items():
            info = self.client.file_info(self.target.folder_id, name)
            verdict = judge(info, self.target.device_id, on_disk)
            if verdict.version is None:
                self.result.waiting[name] = verdict.reason
                if verdict.rescan and self._scan_due(name, on_disk):
                    to_scan.append(name)
                continue
            del self.result.waiting[name]
            self.result.held[name] = verdict.version
            if self.progress is not None:
                self.progress(len(self.result.held), self._total, name)
        return to_scan

    def _scan_due(self, name: str, on_disk: os.stat_result) -> bool:
        """Once per state of the file on disk: a scan that changed nothing stays done."""
        state = (on_disk.st_size, on_disk.st_mtime_ns)
        if self._scanned.get(name) == state:
            return False
        self._scanned[name] = state
        return True

    def _wakes(self, kind: str, data: dict[str, object]) -> bool:
        if kind == "DeviceConnected":
            return data.get("id") == self.target.device_id
        if data.get("folder") != self.target.folder_id:
            return False
        return kind == "LocalIndexUpdated" or data.get("device") == self.target.device_id


def verify(client: SyncthingClient, target: PixelTarget, names: Iterable[str], *,
           timeout: float, poll: float, progress: Progress | None = None) -> Verification:
    return DeviceWait(client, target, names, progress=progress).run(timeout, poll)


def stat_now(path: Path) -> os.stat_result | None:
    """The file's state on disk now; None when it is not a regular file there."""
    try:
        result = path.stat()
    except FileNotFoundError:
        return None
    return result if path.is_file() else None


# Step 8: freeing the phone --------------------------------------------------------------
def verified_at(ledger: Ledger, mf: MediaFile) -> datetime | None:
    """When the device was last proven to hold the file (its pixel_verified event)."""
    assert mf.id is not None
    times = [e.at for e in ledger.events(mf.id) if e.to_stage == Stage.PIXEL_VERIFIED]
    return max(times) if times else None


def pixel_copies_due(ledger: Ledger, files: Iterable[MediaFile], keep_hours: float,
                     now: datetime) -> list[MediaFile]:
    """The files whose Pixel copy may go: verified at least `keep_hours` ago (0: never).

    Removing a file from the Pixel folder deletes it on the phone, so the clock starts
    when the phone was proven to hold it (not at the file's mtime, which a hard link
    shares with the download), giving the phone's own backup time to run.
    """
    if keep_hours <= 0:
        return []
    due = []
    for mf in files:
        if not (mf.pixel_path and mf.pixel_synced):
            continue
        at = verified_at(ledger, mf)
        if at is not None and now - at >= timedelta(hours=keep_hours):
            due.append(mf)
    return due


def remove_pixel_copy(mf: MediaFile, folder: Path) -> None:
    """Delete the file's entry in the Pixel folder (Syncthing then deletes it on the phone).
    Refuses a path outside the folder; a copy already gone is fine. The caller records
    pixel_path = None."""
    if not mf.pixel_path:
        return
    path = Path(mf.pixel_path)
    if not path.resolve().is_relative_to(folder.resolve()):
        raise FileProblem(f"{mf.label}: pixel_path {path} is outside the Pixel folder {folder}",
                          subject=path)
    path.unlink(missing_ok=True)
