"""Atomic, hashed file writes and names that are safe on every filesystem."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mediasync.errors import DownloadMismatch, WorkingFolderError

PARTIAL_SUFFIX = ".mediasync-partial"
CHUNK = 1024 * 1024
MAX_NAME_BYTES = 200  # leaves room for prefixes and suffixes under the usual 255


@dataclass(frozen=True)
class Written:
    path: Path
    size: int
    sha256: str


# What the person running mediasync can do about a write that failed in a working folder.
_LOCAL_FIXES = {
    errno.ENOSPC: "free space on that disk or point the folder at a bigger one",
    errno.EDQUOT: "raise the disk quota or point the folder at another disk",
    errno.EROFS: "remount that filesystem read-write or point the folder elsewhere",
    errno.EACCES: "let the user running mediasync write there",
    errno.EPERM: "let the user running mediasync write there",
}
# The faults that can only be the disk's, told in an error text that was recorded or came
# back from another process (an encoder); e.g. a file failed "cannot read: No space left
# on device" before such faults halted the run.
_DISK_FAULTS = {os.strerror(n): n for n in (errno.ENOSPC, errno.EROFS, errno.EDQUOT)}


def working_folder_error(folder: Path, cause: str, code: int | None) -> WorkingFolderError:
    """The run-halting error for a working folder that cannot be written: the folder,
    the cause and the fix in one line."""
    fix = _LOCAL_FIXES.get(code or 0, "check that disk")
    return WorkingFolderError(f"cannot write in the working folder {folder}: {cause}; {fix},"
                              " then run again", subject=folder)


def disk_fault(error: str | None) -> int | None:
    """The errno of a fault of this machine's disks that an error text tells, if any."""
    return next((n for text, n in _DISK_FAULTS.items() if text in (error or "")), None)


def is_local_fault(error: str | None) -> bool:
    """Whether a recorded error was a fault of this machine's disks, not of the file."""
    return disk_fault(error) is not None


@contextmanager
def working_folder_faults(folder: Path | None) -> Iterator[None]:
    """A failed write in one of our own working folders is this machine's fault, never
    the file's or the source's: it becomes a WorkingFolderError naming the folder and the
    fix, which halts the run instead of failing the file. With folder None (a write
    elsewhere, e.g. the archive) the OSError goes on as it is."""
    try:
        yield
    except OSError as exc:
        if folder is None:
            raise
        raise working_folder_error(folder, exc.strerror or str(exc), exc.errno) from None


class HashingWriter:
    """A binary file that hashes and counts what is written to it; `working`: the
    working folder it is in, whose write errors are ours (see working_folder_faults)."""

    def __init__(self, handle: BinaryIO, working: Path | None = None) -> None:
        self._handle = handle
        self._working = working
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        with working_folder_faults(self._working):
            self._handle.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def partial_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}{PARTIAL_SUFFIX}")


@contextmanager
def atomic_write(dest: Path, expected_size: int | None = None,
                 working: bool = False) -> Iterator[HashingWriter]:
    """Write to a hidden temp file beside `dest`, fsync, check the size, then rename.

    Nothing appears under `dest` unless the whole body arrived; on any error the temp
    file is removed. Overwrites `dest` if it exists: callers pick a free name first.
    `working`: `dest` is in one of our working folders, so a failed write there raises
    WorkingFolderError, told apart from what the caller's body raises (a source's read).
    """
    ours = dest.parent if working else None
    temp = partial_path(dest)
    try:
        with working_folder_faults(ours):
            dest.parent.mkdir(parents=True, exist_ok=True)
            handle = open(temp, "wb")  # noqa: SIM115 (closed below, also on error)
        with handle:
            writer = HashingWriter(handle, ours)
            yield writer
            with working_folder_faults(ours):
                handle.flush()
                os.fsync(handle.fileno())
        if expected_size is not None and writer.size != expected_size:
            raise DownloadMismatch(
                f"{dest.name}: received {writer.size} bytes, source announced {expected_size}",
                subject=dest,
            )
        with working_folder_faults(ours):
            os.replace(temp, dest)
            fsync_dir(dest.parent)
    except BaseException:
        with suppress(OSError):  # a read-only folder keeps its temp: the error says why
            temp.unlink(missing_ok=True)
        raise


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_hashed(src: Path, dest: Path, expected_size: int | None = None,
                working: bool = False) -> Written:
    """Copy and hash in one pass, atomically; `working` as for atomic_write."""
    with open(src, "rb") as source, atomic_write(dest, expected_size, working) as out:
        while chunk := source.read(CHUNK):
            out.write(chunk)
    return Written(dest, out.size, out.sha256)


def move(src: Path, dest: Path) -> None:
    """Rename; between filesystems (the working folders may sit on different disks),
    copy atomically and only then remove the source. Overwrites `dest` like a rename."""
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_hashed(src, dest, expected_size=src.stat().st_size)
        src.unlink()
        fsync_dir(src.parent)


def write_chunks(chunks: Iterable[bytes], dest: Path, expected_size: int | None = None) -> Written:
    with atomic_write(dest, expected_size) as out:
        for chunk in chunks:
            out.write(chunk)
    return Written(dest, out.size, out.sha256)


def sha256_file(path: Path, drop_cache: bool = False) -> str:
    """Hash a file; with drop_cache the page cache is dropped first so that the bytes
    come from the disk (or the NAS), not from memory just written."""
    with open(path, "rb") as handle:
        if drop_cache and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return hashlib.file_digest(handle, "sha256").hexdigest()


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that surrogateescape carried


def escape_undecodable(raw: bytes) -> str:
    """A file name's bytes as text: UTF-8 as it is; a name that is not valid UTF-8 gets
    each undecodable byte as %XX and each `%` as %25, so that nothing is lost:
    urllib.parse.unquote_to_bytes(escaped) gives the bytes back."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape").replace("%", "%25")
        return _UNDECODABLE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", text)


def safe_filename(name: str) -> str:
    """A name that is valid and harmless everywhere: no separators or control characters,
    no leading dash or dot, no `..`, valid UTF-8 (undecodable bytes escaped as by
    escape_undecodable), at most MAX_NAME_BYTES bytes."""
    name = unicodedata.normalize("NFC", escape_undecodable(
        name.encode("utf-8", "surrogateescape")))
    name = _UNSAFE.sub("_", name).strip().strip(".")
    name = name.lstrip("-") or "unnamed"
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:16]
    budget = MAX_NAME_BYTES - len(ext.encode()) - (1 if ext else 0)
    stem_bytes = stem.encode("utf-8")[:budget]
    stem = stem_bytes.decode("utf-8", "ignore") or "unnamed"
    return f"{stem}.{ext}" if ext else stem


def with_suffix_tag(path: Path, tag: str) -> Path:
    """IMG_1.jpg + 'a1b2' -> IMG_1_a1b2.jpg"""
    return path.with_name(f"{path.stem}_{tag}{path.suffix}")


def is_partial(path: Path) -> bool:
    return path.name.endswith(PARTIAL_SUFFIX)
