"""The NAS archive: verified copies laid out by capture date, never overwritten.

`ArchiveTarget` is what step 4 needs from an archive; `NasArchive` is the local (mounted)
one, `mediasync.nas.sftp.SftpArchive` the one reached over SFTP.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Protocol, TypeVar

from mediasync.errors import ArchiveError, FileProblem
from mediasync.files import (
    PARTIAL_SUFFIX,
    atomic_write,
    copy_hashed,
    fsync_dir,
    sha256_file,
    with_suffix_tag,
)
from mediasync.model import MediaFile

P = TypeVar("P", bound=PurePath)
MARKER_NAME = ".mediasync-archive"  # the archive's identity, at its root
OWN_PREFIX = ".mediasync"  # names mediasync itself leaves at the root (marker, probes)


def probe_name() -> str:
    """A write probe's name of its own: workers checking one archive at once must not
    remove each other's probe (or hash each other's bytes)."""
    return f"{OWN_PREFIX}-write-test.{os.getpid()}.{secrets.token_hex(4)}"


def is_own(name: str) -> bool:
    """mediasync's own hidden files at the archive root: the marker, the write probe, and
    their temp files while they are written (atomic_write hides a temp name behind one
    more dot: another worker marking the same fresh archive must not take it for a file
    of the owner's)."""
    return name.lstrip(".").startswith(OWN_PREFIX.lstrip("."))


@dataclass(frozen=True)
class Archived:
    path: PurePath  # where the archive holds it (a remote path for a remote archive)
    sha256: str  # re-read from the archive after fsync, page cache dropped
    already_there: bool  # identical bytes were found at the target (a rerun after a kill)


class ArchiveTarget(Protocol):
    root: PurePath  # recorded nas_path values are under it
    parallel_transfers: int  # how many `store` calls may run at once

    def check(self) -> None:
        """Raise ArchiveError unless the archive is there and writable."""
        ...

    def target_for(self, media: MediaFile, name: str) -> PurePath:
        """Where `store` puts this file when the name is free."""
        ...

    def store(self, working_copy: Path, media: MediaFile, name: str) -> Archived:
        """Copy, verify by re-reading, never overwrite. FileProblem for a bad file,
        ArchiveError when the archive itself fails."""
        ...

    def close(self) -> None:
        """Let go of connections and processes."""
        ...

    def root_exists(self) -> bool:
        """Whether the root folder is there (never created here)."""
        ...

    def read_marker(self) -> str | None:
        """The identity marker's text, None when the root has none."""
        ...

    def write_marker(self, text: str) -> None:
        """Write the identity marker into the existing root, atomically and only where
        there is none yet: a marker already there is never replaced."""
        ...

    def holds_files(self) -> bool:
        """Whether the root holds anything besides mediasync's own hidden files."""
        ...

    def reread(self, path: PurePath) -> str | None:
        """The sha256 of the file at `path` as the archive holds it now (not from a
        cache), None when there is no file there."""
        ...

    def reread_all(self, paths: Sequence[PurePath]) -> list[str | None]:
        """`reread` for each path, in order, as fast as the archive allows."""
        ...


def layout_parts(layout: str, media: MediaFile, name: str) -> list[str]:
    """The layout's path components for this file, by capture date."""
    when: datetime | None = media.captured_at or media.created_at
    fields = {"name": name, "YYYY": "undated", "MM": "", "DD": ""}
    if when is not None:
        fields.update(YYYY=f"{when:%Y}", MM=f"{when:%m}", DD=f"{when:%d}")
    relative = layout.format(**fields)
    return [p for p in PurePath(relative).parts if p not in ("", ".", "..", "/")]


def collision_names(target: P, content_hash: str) -> Iterator[P]:
    """The target, then distinct names for different bytes that want the same name."""
    yield target
    yield with_suffix_tag(target, content_hash[:8])  # type: ignore[misc]
    for n in range(2, 100):
        yield with_suffix_tag(target, f"{content_hash[:8]}_{n}")  # type: ignore[misc]


class NasArchive:
    # two: one file's hashing overlaps the other's disk work; more would only seek
    parallel_transfers = 2

    def __init__(self, root: Path, layout: str = "{YYYY}/{MM}/{DD}/{name}") -> None:
        self.root = root
        self.layout = layout
        # names being written right now: a second writer must not pick one of them
        self._writing: set[Path] = set()
        self._naming = threading.Lock()

    def close(self) -> None:
        pass  # nothing held between stores

    def check(self) -> None:
        """A missing root means an unmounted NAS: never create it, never write beside it."""
        if not self.root.exists():
            raise ArchiveError(f"NAS archive {self.root} does not exist (is the NAS mounted?)")
        if not self.root.is_dir():
            raise ArchiveError(f"NAS archive {self.root} is not a folder")
        probe = self.root / probe_name()
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ArchiveError(f"NAS archive {self.root} is not writable: {exc.strerror}") from None

    def root_exists(self) -> bool:
        return self.root.is_dir()

    def read_marker(self) -> str | None:
        try:
            return (self.root / MARKER_NAME).read_text(errors="replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(exc) from None

    def write_marker(self, text: str) -> None:
        if not self.root_exists():
            raise ArchiveError(f"NAS archive {self.root} does not exist (is the NAS mounted?)")
        temp = self.root / f"{MARKER_NAME}.{os.getpid()}{PARTIAL_SUFFIX}"
        try:
            with atomic_write(temp) as out:
                out.write(text.encode())
            with contextlib.suppress(FileExistsError):  # another writer was first
                os.link(temp, self.root / MARKER_NAME)
            fsync_dir(self.root)
        except OSError as exc:
            raise self._error(exc) from None
        finally:
            temp.unlink(missing_ok=True)

    def holds_files(self) -> bool:
        try:
            with os.scandir(self.root) as entries:
                return any(not is_own(e.name) for e in entries)
        except OSError as exc:
            raise self._error(exc) from None

    def reread_all(self, paths: Sequence[PurePath]) -> list[str | None]:
        # two at a time: one file's hashing overlaps the other's reading
        with ThreadPoolExecutor(self.parallel_transfers, thread_name_prefix="reread") as pool:
            return list(pool.map(self.reread, paths))

    def reread(self, path: PurePath) -> str | None:
        try:
            return sha256_file(Path(path), drop_cache=True)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise self._error(exc) from None

    def target_for(self, media: MediaFile, name: str) -> Path:
        return self.root.joinpath(*layout_parts(self.layout, media, name))

    def store(self, working_copy: Path, media: MediaFile, name: str) -> Archived:
        if not media.content_hash:
            raise FileProblem(f"{media.label}: no content hash recorded", subject=media.source_id)
        with self._naming:
            target = self._free_target(self.target_for(media, name), media)
            there = target.exists()  # ours, from a run that died before recording it
            if not there:
                self._writing.add(target)
        if there:
            return Archived(target, self._reread(target, media), already_there=True)
        try:
            written = copy_hashed(working_copy, target, expected_size=media.size)
        except FileNotFoundError as exc:
            if exc.filename and Path(exc.filename) == working_copy:
                raise FileProblem(f"{media.label}: working copy {working_copy} is missing",
                                  subject=media.source_id) from None
            raise self._error(exc) from None
        except FileProblem:
            raise
        except OSError as exc:
            raise self._error(exc) from None
        finally:
            with self._naming:
                self._writing.discard(target)
        if written.sha256 != media.content_hash:
            target.unlink(missing_ok=True)
            raise FileProblem(f"{media.label}: working copy no longer matches the downloaded bytes",
                              subject=media.source_id)
        return Archived(target, self._reread(target, media), already_there=False)

    def _free_target(self, target: Path, media: MediaFile) -> Path:
        """The first candidate that is free or already holds exactly these bytes."""
        for candidate in collision_names(target, media.content_hash):  # type: ignore[arg-type]
            if candidate in self._writing:
                continue
            if not candidate.exists() or self._holds(candidate, media):
                return candidate
        raise ArchiveError(f"NAS archive: no free name for {target}")

    @staticmethod
    def _holds(path: Path, media: MediaFile) -> bool:
        return path.stat().st_size == media.size and sha256_file(path) == media.content_hash

    def _reread(self, target: Path, media: MediaFile) -> str:
        try:
            digest = sha256_file(target, drop_cache=True)
        except OSError as exc:
            raise self._error(exc) from None
        if digest != media.content_hash:
            raise ArchiveError(f"NAS archive: {target} reads back different bytes than written")
        return digest

    def _error(self, exc: OSError) -> ArchiveError:
        reason = exc.strerror or str(exc)
        return ArchiveError(f"NAS archive {self.root}: {reason}", retryable=exc.errno in _TRANSIENT)


# errors worth a retry of the step: the NAS link hiccuped
_TRANSIENT = {errno.EIO, errno.ETIMEDOUT, errno.EAGAIN, errno.ESTALE}
