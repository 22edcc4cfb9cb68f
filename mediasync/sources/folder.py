"""A plain folder tree as the source (a camera card, an export, a phone dump)."""

from __future__ import annotations

import base64
import errno
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISBLK, S_ISCHR, S_ISDIR, S_ISFIFO, S_ISLNK, S_ISREG, S_ISSOCK

from mediasync.errors import DownloadMismatch, FileProblem, MediaError, SourceError
from mediasync.files import copy_hashed, escape_undecodable, is_partial, sha256_file
from mediasync.media.sniff import HEAD_BYTES, cannot_be_media
from mediasync.media.types import media_type_of
from mediasync.model import MediaFile, SourceAsset
from mediasync.sources.base import DeleteOutcome, Downloaded, PassedOver, SourceFeatures

_RAW_PREFIX = "raw:"  # source ids of paths that are not valid UTF-8
# Files the OS or other tools leave behind: never anyone's photos.
_SYSTEM_FILES = frozenset({b".DS_Store", b"Thumbs.db", b"desktop.ini", b".localized"})


_FOLDER = "folder"  # _reason's answer for a folder to walk into


def _is_system_file(name: bytes) -> bool:
    return name in _SYSTEM_FILES or name.startswith(b"._")


def _symlink_reason(path: bytes) -> str:
    """Symlinks are never followed (a link to a parent would list the tree forever, and
    a delete would remove what another path points to); what they point to is told."""
    try:
        target = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        return "broken symlink" if exc.errno in (errno.ENOENT, errno.ENOTDIR) \
            else "symlink (not followed)"
    return "symlink to a folder (not followed)" if S_ISDIR(target.st_mode) \
        else "symlink (not followed)"


def encode_relpath(rel: bytes) -> str:
    try:
        return rel.decode("utf-8")
    except UnicodeDecodeError:
        return _RAW_PREFIX + base64.urlsafe_b64encode(rel).decode("ascii")


def decode_relpath(source_id: str) -> bytes:
    if source_id.startswith(_RAW_PREFIX):
        return base64.urlsafe_b64decode(source_id[len(_RAW_PREFIX):])
    return source_id.encode("utf-8")


class FolderSource:
    # an edit in place keeps the path: the mtime (ns) tells the new bytes from the old
    features = SourceFeatures(can_delete=True, deletes_are_recoverable=False,
                              change_tag="mtime_ns")

    def __init__(self, root: Path, parallel_downloads: int = 1,
                 include_hidden: bool = False) -> None:
        self.root = root
        self.parallel_downloads = parallel_downloads
        self.include_hidden = include_hidden
        self.name = f"folder:{root}"
        self.passed_over: list[PassedOver] = []  # of the last listing

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise SourceError(f"source folder {self.root} does not exist or is not a folder")

    def list_assets(self, known: Iterable[str] = ()) -> Iterator[SourceAsset]:
        self._check_root()
        self.passed_over = []
        root = os.fsencode(self.root)
        for entry, stat in self._walk(root):
            rel = os.path.relpath(entry.path, root)
            display = escape_undecodable(entry.name)  # the bytes are in the source id
            yield SourceAsset(
                source_id=encode_relpath(rel),
                filename=display,
                size=stat.st_size,
                created=datetime.fromtimestamp(stat.st_mtime, UTC),
                media_type=media_type_of(display),
                extra={"mtime_ns": stat.st_mtime_ns},
            )

    def _walk(self, root: bytes) -> Iterator[tuple[os.DirEntry[bytes], os.stat_result]]:
        """The regular files under `root`, a folder's files before its subfolders, each
        sorted by name; every other entry met goes to `passed_over` with its reason."""
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                if folder == root:
                    raise SourceError(f"source folder {self.root} cannot be read: "
                                      f"{exc.strerror}") from None
                self._pass_over(root, folder, f"folder cannot be read: {exc.strerror}")
                continue
            subfolders = []
            for entry in entries:
                try:
                    stat = entry.stat(follow_symlinks=False)
                    reason = self._reason(entry, stat)
                except FileNotFoundError:
                    continue  # removed while we listed
                except OSError as exc:
                    reason = f"cannot be read: {exc.strerror}"
                if reason is _FOLDER:
                    subfolders.append(entry.path)
                elif reason is None:
                    yield entry, stat
                else:
                    self._pass_over(root, entry.path, reason)
            stack.extend(reversed(subfolders))

    def _reason(self, entry: os.DirEntry[bytes], stat: os.stat_result) -> str | None:
        """Why an entry is not imported; None for a file to import, _FOLDER for a folder
        to walk into."""
        mode = stat.st_mode
        if S_ISLNK(mode):
            return _symlink_reason(entry.path)
        if S_ISDIR(mode):
            hidden = entry.name.startswith(b".") and not self.include_hidden
            return "hidden folder (source.include_hidden is off)" if hidden else _FOLDER
        if S_ISREG(mode):
            if is_partial(Path(os.fsdecode(entry.name))):
                return "partial download"
            return "system file" if _is_system_file(entry.name) else None
        if S_ISFIFO(mode):
            return "FIFO (named pipe)"
        if S_ISSOCK(mode):
            return "socket"
        if S_ISCHR(mode) or S_ISBLK(mode):
            return "device file"
        return "not a regular file"

    def _pass_over(self, root: bytes, path: bytes, reason: str) -> None:
        rel = escape_undecodable(os.path.relpath(path, root))
        self.passed_over.append(PassedOver(rel, reason))

    def _path_of(self, source_id: str) -> bytes:
        return os.path.join(os.fsencode(self.root), decode_relpath(source_id))

    def download(self, asset: SourceAsset, dest: Path) -> Downloaded:
        src = Path(os.fsdecode(self._path_of(asset.source_id)))
        try:
            _refuse_non_media(src, asset)
            written = copy_hashed(src, dest, expected_size=asset.size, working=True)
        except DownloadMismatch as exc:
            raise DownloadMismatch(f"{asset.filename}: changed while copying ({exc})",
                                   subject=asset.source_id) from None
        except FileNotFoundError:
            raise FileProblem(f"{asset.filename}: vanished from the source folder",
                              subject=asset.source_id) from None
        except OSError as exc:
            if not self.root.is_dir():
                raise SourceError(f"source folder {self.root} is gone: {exc.strerror}") from None
            raise FileProblem(f"{asset.filename}: cannot read: {exc.strerror}",
                              subject=asset.source_id) from None
        return Downloaded(written.path, written.size, written.sha256)

    def delete(self, files: Sequence[MediaFile]) -> list[DeleteOutcome]:
        self._check_root()  # an unmounted card would make every file look deleted
        return [self._delete_one(media) for media in files]

    def _delete_one(self, media: MediaFile) -> DeleteOutcome:
        path = Path(os.fsdecode(self._path_of(media.source_id)))
        try:
            # Never delete bytes we have not archived: the file may have been replaced.
            if sha256_file(path) != media.content_hash:
                return DeleteOutcome(media.source_id, False, "changed at the source since download")
            path.unlink()
        except FileNotFoundError:
            return DeleteOutcome(media.source_id, False, "already gone from the source")
        except OSError as exc:
            return DeleteOutcome(media.source_id, False, f"cannot delete: {exc.strerror}")
        if _exists(path):  # the folder's own word: the path must be gone afterwards
            return DeleteOutcome(media.source_id, False, "still there after it was unlinked")
        return DeleteOutcome(media.source_id, True)

    def still_present(self, files: Sequence[MediaFile]) -> set[str]:
        """Source ids among `files` that the source still holds, asked now."""
        self._check_root()
        return {m.source_id for m in files if _exists(self._path_of(m.source_id))}


def _refuse_non_media(src: Path, asset: SourceAsset) -> None:
    """A sparse or huge file that cannot be a photo or video is refused before a byte of
    it is copied (see media/sniff.py)."""
    with open(src, "rb") as handle:
        head = handle.read(HEAD_BYTES)
        stat = os.fstat(handle.fileno())
    why = cannot_be_media(head, stat.st_size, stat.st_blocks)
    if why is not None:
        raise MediaError(f"{asset.filename}: {why}; refused before copying",
                         subject=asset.source_id)


def _exists(path: bytes | Path) -> bool:
    """Whether anything is at `path`; when that cannot be told, it counts as there."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True
