"""An SSH server's folder tree as the source (a game server's stats, a camera uploader).

Source ids are paths relative to the remote root, encoded like the folder source's, so
odd names survive. The ledger decides what is new: a file recorded once is never fetched
again, whether or not its local copy still exists.

Downloads resume after a dropped connection: the bytes already written (and hashed) are
kept and the transfer continues at that offset on a fresh connection, but only when the
remote file still has the size and modification time it was listed with; otherwise the
file fails alone and the next run starts it over. The hash is always of the bytes on
disk, and a delete re-hashes the remote file first, so a file that changed in between
can never be deleted on the strength of another file's copy.
"""

from __future__ import annotations

import asyncio
import fnmatch
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from mediasync.errors import AuthError, DownloadMismatch, FileProblem, SourceError
from mediasync.files import HashingWriter, atomic_write
from mediasync.media.types import media_type_of
from mediasync.model import MediaFile, SourceAsset
from mediasync.settings import Settings, SftpSourceSettings
from mediasync.sources.base import DeleteOutcome, Downloaded, SourceFeatures
from mediasync.sources.folder import decode_relpath, encode_relpath
from mediasync.ssh import TRANSFER_CHUNK, SshErrors, SshLink, raise_if_dropped, sftp_sha256


class SftpSource:
    # a file overwritten under the same name: SFTP gives the mtime in whole seconds
    features = SourceFeatures(can_delete=True, deletes_are_recoverable=False,
                              change_tag="mtime")

    def __init__(self, config: SftpSourceSettings, settings: Settings) -> None:
        self.config = config
        self.parallel_downloads = config.parallel_transfers
        self.link = SshLink(config, settings, SshErrors(SourceError, AuthError))
        self.root = config.root.encode("utf-8")
        self.name = f"sftp://{self.link.label}/{config.root}"

    # -- listing ------------------------------------------------------------------------

    throttled = 0  # SSH servers do not ask us to slow down: they drop, and we reconnect

    def count_assets(self) -> int:
        """What the deletion circuit breaker compares between runs."""
        return len(self.link.call(self._walk))

    def list_assets(self, known: Iterable[str] = ()) -> Iterator[SourceAsset]:
        entries = self.link.call(self._walk)
        entries.sort(key=lambda entry: (-(entry[1].mtime or 0), entry[0]))
        for relpath, attrs in entries:
            yield self._asset(relpath, attrs)

    async def _walk(self, sftp: asyncssh.SFTPClient) -> list[tuple[bytes, asyncssh.SFTPAttrs]]:
        found: list[tuple[bytes, asyncssh.SFTPAttrs]] = []
        folders = [b""]
        while folders:
            folder = folders.pop()
            try:
                await self._list_folder(sftp, folder, folders, found)
            except asyncssh.SFTPError as exc:
                raise_if_dropped(exc)
                where = folder.decode("utf-8", "replace") or "the remote root"
                raise SourceError(f"{self.name}: cannot list {where} ({exc.reason})") from None
        return found

    async def _list_folder(self, sftp: asyncssh.SFTPClient, folder: bytes, folders: list[bytes],
                           found: list[tuple[bytes, asyncssh.SFTPAttrs]]) -> None:
        async for entry in sftp.scandir(posixpath.join(self.root, folder)):
            name = entry.filename
            if isinstance(name, str):
                name = name.encode("utf-8", "surrogateescape")
            if name.startswith(b"."):  # hidden files, and our own temp names
                continue
            relpath = posixpath.join(folder, name)
            if entry.attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
                folders.append(relpath)
            elif entry.attrs.type == asyncssh.FILEXFER_TYPE_REGULAR and self._wanted(relpath):
                found.append((relpath, entry.attrs))

    def _wanted(self, relpath: bytes) -> bool:
        text = relpath.decode("utf-8", "replace")
        return (any(fnmatch.fnmatchcase(text, p) for p in self.config.include)
                and not any(fnmatch.fnmatchcase(text, p) for p in self.config.exclude))

    @staticmethod
    def _asset(relpath: bytes, attrs: asyncssh.SFTPAttrs) -> SourceAsset:
        name = posixpath.basename(relpath).decode("utf-8", "replace")
        mtime = attrs.mtime or 0
        return SourceAsset(
            source_id=encode_relpath(relpath), filename=name, size=attrs.size,
            created=datetime.fromtimestamp(mtime, UTC) if mtime else None,
            media_type=media_type_of(name), extra={"mtime": mtime},
        )

    # -- download -----------------------------------------------------------------------

    def remote_path(self, source_id: str) -> bytes:
        return posixpath.join(self.root, decode_relpath(source_id))

    def download(self, asset: SourceAsset, dest: Path) -> Downloaded:
        remote = self.remote_path(asset.source_id)
        with atomic_write(dest, expected_size=asset.size) as out:
            # the same writer across reconnects: a retry continues where the drop left off
            self.link.call(lambda sftp: self._fetch(sftp, remote, asset, out))
        return Downloaded(dest, out.size, out.sha256)

    async def _fetch(self, sftp: asyncssh.SFTPClient, remote: bytes, asset: SourceAsset,
                     out: HashingWriter) -> None:
        try:
            async with sftp.open(remote, "rb") as handle:
                attrs = await handle.stat()
                if (attrs.size, attrs.mtime) != (asset.size, asset.extra.get("mtime")):
                    raise DownloadMismatch(f"{asset.filename}: changed at the source since it"
                                           " was listed; it will be fetched again next run",
                                           subject=asset.source_id)
                while chunk := await handle.read(TRANSFER_CHUNK, out.size):
                    out.write(chunk)
        except asyncssh.SFTPNoSuchFile:
            raise FileProblem(f"{asset.filename}: vanished from the source",
                              subject=asset.source_id) from None
        except asyncssh.SFTPError as exc:
            raise_if_dropped(exc)
            raise FileProblem(f"{asset.filename}: cannot read: {exc.reason}",
                              subject=asset.source_id) from None

    # -- delete -------------------------------------------------------------------------

    def delete(self, files: Sequence[MediaFile]) -> list[DeleteOutcome]:
        return [self._delete_one(media) for media in files]

    def _delete_one(self, media: MediaFile) -> DeleteOutcome:
        remote = self.remote_path(media.source_id)
        asked: list[bool] = []  # survives a retry on a new connection
        return self.link.call(lambda sftp: self._remove(sftp, remote, media, asked))

    async def _remove(self, sftp: asyncssh.SFTPClient, remote: bytes, media: MediaFile,
                      asked: list[bool]) -> DeleteOutcome:
        try:
            # never delete bytes we have not archived: the file may have been replaced
            if await sftp_sha256(sftp, remote) != media.content_hash:
                return DeleteOutcome(media.source_id, False, "changed at the source since download")
            asked.append(True)
            await sftp.remove(remote)
        except asyncssh.SFTPNoSuchFile:
            if not asked:
                return DeleteOutcome(media.source_id, False, "already gone from the source")
            # the connection dropped after the remove was sent: the check below decides
        except asyncssh.SFTPError as exc:
            raise_if_dropped(exc)
            return DeleteOutcome(media.source_id, False, f"cannot delete: {exc.reason}")
        # the server's own word: the path must be gone afterwards
        if await _exists(sftp, remote):
            return DeleteOutcome(media.source_id, False, "still there after it was removed")
        return DeleteOutcome(media.source_id, True)

    def still_present(self, files: Sequence[MediaFile]) -> set[str]:
        """Source ids among `files` that the source still holds, asked now (one
        connection, the questions pipelined)."""
        async def ask(sftp: asyncssh.SFTPClient) -> set[str]:
            found = await asyncio.gather(*(_exists(sftp, self.remote_path(m.source_id))
                                           for m in files))
            return {m.source_id for m, there in zip(files, found, strict=True) if there}

        return self.link.call(ask)


async def _exists(sftp: asyncssh.SFTPClient, remote: bytes) -> bool:
    """Whether anything is at `remote`; when that cannot be told, it counts as there."""
    try:
        await sftp.lstat(remote)
    except asyncssh.SFTPNoSuchFile:
        return False
    except asyncssh.SFTPError as exc:
        raise_if_dropped(exc)
        return True
    return True
