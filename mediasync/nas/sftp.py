"""The NAS archive reached over SFTP, with the local archive's guarantees.

Each file is written under a hidden temp name (by OpenSSH's sftp program when it is there,
see openssh_put.py, else by asyncssh), fsynced where the server offers
fsync@openssh.com, re-read and hashed, and only when that hash is the downloaded bytes'
hash renamed with the plain SFTP rename, which refuses to replace an existing file (the
posix-rename extension would replace it: never used here). A name taken by different
bytes gives a distinct name; a name holding exactly these bytes (a run killed after the
rename) is adopted. Re-reading means hashing on the server (Python's hashlib, else
`openssl dgst`, else `sha256sum`) when a probe has shown that the tool there sees the
same paths as SFTP and hashes them right, else reading the bytes back over SFTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import weakref
from collections.abc import Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import BinaryIO, NamedTuple

import asyncssh

from mediasync.errors import ArchiveError, FileProblem
from mediasync.files import PARTIAL_SUFFIX
from mediasync.model import MediaFile
from mediasync.nas.archive import (
    MARKER_NAME,
    Archived,
    collision_names,
    is_own,
    layout_parts,
    probe_name,
)
from mediasync.nas.openssh_put import (
    LaneLost,
    SftpLanes,
    command_line,
    fits_a_line,
    why_not_usable,
)
from mediasync.settings import Settings, SftpArchiveSettings
from mediasync.ssh import TRANSFER_CHUNK, SshErrors, SshLink, raise_if_dropped, sftp_sha256

# paths sent to the server's hasher before its first answer is read: one round trip for
# a whole delete batch, and a bounded amount of input waiting in the session's window
REREAD_BATCH = 256
# OpenSSH connections for uploads: each is an sftp process and one on the server; past a
# few, the server's CPU is the limit and sshd's MaxStartups (10 by default) comes near.
MAX_LANES = 4
# Each hasher is one process per connection that reads one path per line and answers one
# line: the hex digest, or "-" for an unreadable path (starting a command per file would
# cost about 0.2 s on a busy server).
# Python's hashlib hashes with OpenSSL in common builds, so with the CPU's SHA instructions
# where it has them (about 1 GB/s here against 280 MB/s for coreutils' sha256sum; many NAS
# CPUs have them too), and its one process spares a program start per file (about 3 ms
# for openssl here, more on a small NAS CPU).
PYTHON_LOOP = """python3 -c 'import hashlib, sys
out, pending, answers = sys.stdout.buffer, b"", []
while True:
    if b"\\n" not in pending:
        if answers:
            out.write(b"".join(answers))
            out.flush()
            answers = []
        chunk = sys.stdin.buffer.raw.read(65536)
        if not chunk:
            break
        pending += chunk
        continue
    path, pending = pending.split(b"\\n", 1)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1048576), b""):
                digest.update(block)
        answers.append(digest.hexdigest().encode() + b"\\n")
    except OSError:
        answers.append(b"-\\n")
'"""
# A shell runs `tool` once per path and answers with the digest's 64 characters alone,
# whatever the tool prints (sha256sum puts a backslash before the digest of a name it had
# to escape; openssl prints names as they are).
SHELL_LOOP = ('while IFS= read -r p; do if d=$({tool} "$p" 2>/dev/null);'
              r' then d=${{d#\\}}; printf "%.64s\n" "$d"; else echo -; fi; done')


def _shell_loop(tool: str) -> str:
    return f"sh -c '{SHELL_LOOP.format(tool=tool)}'"


# Fastest first; the probe in `check` takes the first that hashes right. Paths sent are
# always absolute, so none is taken for an option (the `--` that sha256sum gets would be
# a file name to OpenSSL 1.0's dgst).
HASHERS = {"python3 hashlib": PYTHON_LOOP,
           "openssl dgst": _shell_loop("openssl dgst -sha256 -r"),
           "sha256sum": _shell_loop("sha256sum --")}


class ServerHash(NamedTuple):
    """How written files are hashed on the server, once the probe has shown it works."""

    root: PurePosixPath  # the archive root as commands see it
    tool: str  # the key in HASHERS


class SftpArchive:
    def __init__(self, config: SftpArchiveSettings, settings: Settings,
                 layout: str = "{YYYY}/{MM}/{DD}/{name}") -> None:
        self.config = config
        self.layout = layout
        self.root = PurePosixPath(config.root)
        self.link = SshLink(config, settings, SshErrors(ArchiveError, ArchiveError))
        self.parallel_transfers = config.parallel_transfers
        self.where = f"sftp archive {self.link.label}:{self.root}"
        self._server_hash: ServerHash | None = None  # set by check when it can be used
        self._folders: set[PurePosixPath] = set()  # made already: spares a round trip each
        self._lanes: SftpLanes | None = None  # set by check when OpenSSH's sftp can be used
        self._why_not_openssh = "not checked yet"

    def close(self) -> None:
        """End the upload processes (they would end with this process anyway)."""
        if self._lanes is not None:
            self._lanes.close()

    # -- ArchiveTarget ------------------------------------------------------------------

    def check(self) -> None:
        """A missing root means a missing share: never create it, never write beside it."""
        self.link.call(self._check)
        self.close()  # a second check decides again
        self._lanes = None
        self._lanes = self._open_lanes()

    @property
    def uploads(self) -> str:
        """How file bytes travel, as decided by `check`."""
        if self._lanes is not None:
            return f"by OpenSSH's sftp over {self._lanes.size} connections"
        return f"by the built-in client ({self._why_not_openssh})"

    @property
    def hasher(self) -> str | None:
        """The server tool that hashes written files, as chosen by `check`; None when the
        bytes are read back over SFTP."""
        return self._server_hash.tool if self._server_hash is not None else None

    @property
    def verification(self) -> str:
        """How written bytes are re-read, as decided by `check`."""
        if self.hasher is not None:
            return f"by {self.hasher} on the server"
        return "by reading them back over SFTP"

    def _open_lanes(self) -> SftpLanes | None:
        if self.config.upload == "asyncssh":
            self._why_not_openssh = "upload = asyncssh"
            return None
        if reason := why_not_usable(self.config.key_passphrase is not None):
            self._why_not_openssh = reason
        elif not fits_a_line(str(self.link.known_hosts), str(self.link.key_file or "")):
            self._why_not_openssh = "a line break in the key_file or known_hosts path"
        else:
            lanes = SftpLanes(command_line(self.link), min(self.parallel_transfers, MAX_LANES))
            try:
                lanes.start()
            except LaneLost as exc:
                self._why_not_openssh = f"it cannot connect: {exc}"
            else:
                weakref.finalize(self, lanes.close)
                return lanes
        if self.config.upload == "openssh":
            raise ArchiveError(f"{self.where}: upload = openssh, but {self._why_not_openssh}")
        return None

    def target_for(self, media: MediaFile, name: str) -> PurePosixPath:
        return self.root.joinpath(*layout_parts(self.layout, media, name))

    def store(self, working_copy: Path, media: MediaFile, name: str) -> Archived:
        if not media.content_hash:
            raise FileProblem(f"{media.label}: no content hash recorded", subject=media.source_id)
        target = self.target_for(media, name)
        try:
            with open(working_copy, "rb") as local:
                placed, already = self.link.call(
                    lambda sftp: self._place(sftp, local, target, media))
        except FileNotFoundError:
            raise FileProblem(f"{media.label}: working copy {working_copy} is missing",
                              subject=media.source_id) from None
        return Archived(placed, media.content_hash, already_there=already)

    def root_exists(self) -> bool:
        return self.link.call(lambda sftp: sftp.isdir(str(self.root)))

    def read_marker(self) -> str | None:
        return self.link.call(self._read_marker)

    def write_marker(self, text: str) -> None:
        self.link.call(lambda sftp: self._write_marker(sftp, text.encode()))

    def holds_files(self) -> bool:
        names = self.link.call(lambda sftp: sftp.listdir(str(self.root)))
        return any(not is_own(str(n)) for n in names if n not in (".", ".."))

    def reread(self, path: PurePath) -> str | None:
        return self.reread_all([path])[0]

    def reread_all(self, paths: Sequence[PurePath]) -> list[str | None]:
        posix = [PurePosixPath(p) for p in paths]
        return self.link.call(lambda sftp: self._reread_all(sftp, posix))

    # -- on the connection --------------------------------------------------------------

    async def _read_marker(self, sftp: asyncssh.SFTPClient) -> str | None:
        try:
            async with sftp.open(str(self.root / MARKER_NAME), "rb") as handle:
                body: bytes = await handle.read()
        except asyncssh.SFTPNoSuchFile:
            return None
        except asyncssh.SFTPError as exc:
            raise_if_dropped(exc)
            raise ArchiveError(f"{self.where}: cannot read {MARKER_NAME} ({exc.reason})") from None
        return body.decode(errors="replace")

    async def _write_marker(self, sftp: asyncssh.SFTPClient, body: bytes) -> None:
        """Temp name, fsync, then the plain SFTP rename, which refuses to replace a marker
        another writer put there first."""
        target = str(self.root / MARKER_NAME)
        temp = str(self.root / f"{MARKER_NAME}.{os.getpid()}{PARTIAL_SUFFIX}")
        try:
            if not await sftp.isdir(str(self.root)):
                raise ArchiveError(f"{self.where}: the folder does not exist (wrong root,"
                                   " or the share is not there)")
            async with sftp.open(temp, "wb") as handle:
                await handle.write(body)
                with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                    await handle.fsync()
            try:
                await sftp.rename(temp, target)
            except asyncssh.SFTPError:
                if not await sftp.exists(target):
                    raise
        except asyncssh.SFTPError as exc:
            raise_if_dropped(exc)
            raise ArchiveError(f"{self.where}: cannot write {MARKER_NAME} ({exc.reason})") from None
        finally:
            with contextlib.suppress(Exception):
                await sftp.remove(temp)

    async def _reread_all(self, sftp: asyncssh.SFTPClient,
                          paths: Sequence[PurePosixPath]) -> list[str | None]:
        """The server's hasher asked about every path, one round trip per REREAD_BATCH; a
        path it cannot read (or cannot be sent: a line break in it) is read over SFTP,
        which tells a missing file from one only SFTP can read."""
        digests: list[str | None] = [None] * len(paths)
        server = self._server_hash
        if server is not None:
            askable = [i for i, path in enumerate(paths) if "\n" not in str(path)]
            for first in range(0, len(askable), REREAD_BATCH):
                chunk = askable[first:first + REREAD_BATCH]
                lines = [os.fsencode(str(server.root / paths[i].relative_to(self.root)))
                         for i in chunk]
                answers = await self.link.ask_many(HASHERS[server.tool], lines) or []
                for i, answer in zip(chunk, answers, strict=False):
                    if answer != b"-":
                        digests[i] = answer.decode("ascii", "replace")
        for i, path in enumerate(paths):
            if digests[i] is None:
                digests[i] = await self._read_back(sftp, path)
        return digests

    async def _read_back(self, sftp: asyncssh.SFTPClient, path: PurePosixPath) -> str | None:
        try:
            if (await sftp.stat(str(path))).type != asyncssh.FILEXFER_TYPE_REGULAR:
                return None
            return await sftp_sha256(sftp, str(path))
        except asyncssh.SFTPNoSuchFile:
            return None
        except asyncssh.SFTPError as exc:
            raise_if_dropped(exc)
            raise ArchiveError(f"{self.where}: cannot read {path} ({exc.reason})") from None

    async def _check(self, sftp: asyncssh.SFTPClient) -> None:
        try:
            if not await sftp.isdir(str(self.root)):
                raise ArchiveError(f"{self.where}: the folder does not exist (wrong root,"
                                   " or the share is not there)")
            name = probe_name()
            probe = str(self.root / name)
            body = os.urandom(64)
            async with sftp.open(probe, "wb") as handle:
                await handle.write(body)
            try:
                self._server_hash = await self._find_hasher(sftp, name, body)
            finally:
                await sftp.remove(probe)
        except asyncssh.SFTPError as exc:
            raise_if_dropped(exc)
            raise ArchiveError(f"{self.where}: not writable ({exc.reason})") from None

    async def _find_hasher(self, sftp: asyncssh.SFTPClient, probe: str,
                           body: bytes) -> ServerHash | None:
        """The fastest server tool that hashes the probe SFTP wrote (`probe`, a name at
        the root) to its right digest."""
        if self.config.verify == "read":
            return None
        absolute = PurePosixPath(await sftp.realpath(str(self.root)))
        right = hashlib.sha256(body).hexdigest()
        for tool in HASHERS:
            found = ServerHash(absolute, tool)
            if await self._server_digest(found, absolute / probe) == right:
                return found
            self.link.release(HASHERS[tool])  # not used: it would idle
        if self.config.verify == "server":
            raise ArchiveError(f"{self.where}: verify = server, but neither python3, openssl"
                               " nor sha256sum on the server hashes the files SFTP writes"
                               " (no shell, no such tool, or a chroot); use auto or read")
        return None

    async def _server_digest(self, server: ServerHash, path: PurePosixPath) -> str | None:
        """The hex digest, "-" when the tool cannot read `path`; None without a shell."""
        answer = await self.link.ask(HASHERS[server.tool], os.fsencode(str(path)))
        return answer.decode("ascii", "replace") if answer is not None else None

    async def _hash(self, sftp: asyncssh.SFTPClient, path: PurePosixPath) -> str | None:
        server = self._server_hash
        if server is not None and "\n" not in str(path):  # a path is one line to the hasher
            digest = await self._server_digest(server,
                                               server.root / path.relative_to(self.root))
            if digest is not None:
                return digest
        try:
            return await sftp_sha256(sftp, str(path))
        except asyncssh.SFTPError as exc:
            raise_if_dropped(exc)
            raise ArchiveError(f"{self.where}: cannot read back {path} ({exc.reason})") from None

    async def _place(self, sftp: asyncssh.SFTPClient, local: BinaryIO, target: PurePosixPath,
                     media: MediaFile) -> tuple[PurePosixPath, bool]:
        """Put the bytes under a free name; (the name, whether they were already there)."""
        try:
            if target.parent not in self._folders:
                await sftp.makedirs(str(target.parent), exist_ok=True)
                self._folders.add(target.parent)
            name, holds = await self._free_name(sftp, target, media)
            if holds:
                return name, True
            return await self._upload(sftp, local, target, media)
        except asyncssh.SFTPError as exc:
            raise_if_dropped(exc)
            raise ArchiveError(f"{self.where}: cannot write {target} ({exc.reason})") from None

    async def _free_name(self, sftp: asyncssh.SFTPClient, target: PurePosixPath,
                         media: MediaFile) -> tuple[PurePosixPath, bool]:
        """The first candidate that is free (False) or holds exactly these bytes (True)."""
        for candidate in collision_names(target, media.content_hash):  # type: ignore[arg-type]
            try:
                attrs = await sftp.stat(str(candidate))
            except asyncssh.SFTPNoSuchFile:
                return candidate, False
            if (attrs.size == media.size
                    and await self._hash(sftp, candidate) == media.content_hash):
                return candidate, True  # ours, from a run that died before recording it
        raise ArchiveError(f"{self.where}: no free name for {target}")

    async def _upload(self, sftp: asyncssh.SFTPClient, local: BinaryIO, target: PurePosixPath,
                      media: MediaFile) -> tuple[PurePosixPath, bool]:
        # the hash in the temp name keeps two files that want one name apart
        tag = (media.content_hash or "")[:8]
        temp = str(target.with_name(f".{target.name}.{tag}{PARTIAL_SUFFIX}"))
        try:
            await self._send(sftp, local, temp)
            await self._verify(sftp, PurePosixPath(temp), local, media)
            return await self._rename_free(sftp, temp, target, media)
        except BaseException:
            with contextlib.suppress(Exception):
                await sftp.remove(temp)
            raise

    async def _rename_free(self, sftp: asyncssh.SFTPClient, temp: str, target: PurePosixPath,
                           media: MediaFile) -> tuple[PurePosixPath, bool]:
        """Rename to the first free name; a name taken meanwhile by another writer is
        skipped, never replaced (plain SFTP rename refuses an existing file)."""
        for _ in range(3):
            name, holds = await self._free_name(sftp, target, media)
            if holds:
                await sftp.remove(temp)
                return name, True
            try:
                await sftp.rename(temp, str(name))
                return name, False
            except asyncssh.SFTPError:
                if not await sftp.exists(str(name)):
                    raise
        raise ArchiveError(f"{self.where}: {target} keeps being taken by another writer")

    async def _verify(self, sftp: asyncssh.SFTPClient, temp: PurePosixPath, local: BinaryIO,
                      media: MediaFile) -> None:
        """The temp file, re-read on the server, must hash to the downloaded bytes: only
        then does it get a final name."""
        if await self._hash(sftp, temp) == media.content_hash:
            return
        local.seek(0)
        if hashlib.file_digest(local, "sha256").hexdigest() != media.content_hash:
            raise FileProblem(f"{media.label}: working copy no longer matches the downloaded"
                              " bytes", subject=media.source_id)
        raise ArchiveError(f"{self.where}: {temp} reads back different bytes than written")

    async def _send(self, sftp: asyncssh.SFTPClient, local: BinaryIO, temp: str) -> None:
        """Write the temp file from empty (a retry starts clean)."""
        if self._lanes is not None and fits_a_line(local.name, temp):
            said = await asyncio.to_thread(self._lanes.put, Path(local.name), temp)
            if said and await _size(sftp, temp) != os.fstat(local.fileno()).st_size:
                raise ArchiveError(f"{self.where}: cannot write {temp} ({'; '.join(said)})")
            return
        local.seek(0)
        offset = 0
        async with sftp.open(temp, "wb") as remote:
            while chunk := local.read(TRANSFER_CHUNK):
                await remote.write(chunk, offset)
                offset += len(chunk)
            with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                await remote.fsync()


async def _size(sftp: asyncssh.SFTPClient, path: str) -> int | None:
    try:
        return (await sftp.stat(path)).size
    except asyncssh.SFTPNoSuchFile:
        return None
