"""SSH connections for the SFTP source and the SFTP archive.

One `SshLink` is one server: the connection opens on first use and is reused; after a
drop it is thrown away and the operation runs again on a fresh connection (the operation
decides what a clean start means for its bytes). Host keys are checked against
known_hosts, always: an unknown or changed key stops with the key's fingerprint, and a
rejected key stops with a one-line error; neither is retried.

asyncssh is asynchronous and mediasync is not, so every link runs its coroutines on one
private event-loop thread shared by the process.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple, TypeVar

import asyncssh
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from mediasync.errors import MediasyncError
from mediasync.files import CHUNK
from mediasync.settings import Settings, SshEndpoint

T = TypeVar("T")
TRANSFER_CHUNK = 4 * CHUNK  # one read or write call; asyncssh splits it into parallel requests
# AES-GCM first: asyncssh runs it in OpenSSL in one call per packet, up to twice the
# throughput of chacha20-poly1305 here (measured on loopback).
CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
           "aes128-ctr", "aes256-ctr"]
Operation = Callable[[asyncssh.SFTPClient], Awaitable[T]]


class SshErrors(NamedTuple):
    """Which of our errors a link raises: the source and the archive speak differently."""

    failure: type[MediasyncError]  # unreachable, connection lost for good
    auth: type[MediasyncError]  # host key or user key refused


class _LoopThread:
    """The process's event loop for SSH, started on first use."""

    _loop: asyncio.AbstractEventLoop | None = None
    _lock = threading.Lock()

    @classmethod
    def submit(cls, coroutine: Awaitable[T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, cls._get())  # type: ignore[arg-type]
        return future.result()

    @classmethod
    def _get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="mediasync-ssh",
                                 daemon=True).start()
                cls._loop = loop
            return cls._loop


def _is_drop(exc: BaseException) -> bool:
    """A connection that went away mid-operation: worth a fresh connection."""
    if isinstance(exc, asyncssh.PermissionDenied | asyncssh.HostKeyNotVerifiable):
        return False
    return isinstance(exc, asyncssh.ConnectionLost | asyncssh.DisconnectError
                      | asyncssh.ChannelOpenError | asyncssh.SFTPConnectionLost
                      | asyncssh.SFTPNoConnection | ConnectionError | TimeoutError | EOFError)


def raise_if_dropped(exc: asyncssh.SFTPError) -> None:
    """SFTP reports a lost connection as one more SFTPError: let it reach the retry
    instead of being taken for a problem with one file."""
    if _is_drop(exc):
        raise exc


class _KeySeen(asyncssh.SSHClient):
    """Remembers the host key the server offered, for the error message."""

    def __init__(self, link: SshLink) -> None:
        self._link = link

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self._link.offered_key = key
        return False  # known_hosts alone decides


class SshLink:
    def __init__(self, endpoint: SshEndpoint, settings: Settings, errors: SshErrors) -> None:
        self.endpoint = endpoint
        self.errors = errors
        self.user = endpoint.user or getpass.getuser()
        self.known_hosts = settings.resolve(endpoint.known_hosts)
        self.key_file = settings.resolve(endpoint.key_file) if endpoint.key_file else None
        self.label = f"{self.user}@{endpoint.host}:{endpoint.port}"
        self.offered_key: asyncssh.SSHKey | None = None
        self._connection: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._connecting: asyncio.Lock | None = None
        self._slots: asyncio.Semaphore | None = None
        self._workers: dict[str, tuple[asyncssh.SSHClientProcess[bytes], asyncio.Lock]] = {}

    # -- what callers use -------------------------------------------------------------

    def call(self, operation: Operation[T]) -> T:
        """Run `operation` with an SFTP client; after a dropped connection it runs again,
        from its own beginning, on a new connection."""
        retrying = Retrying(
            stop=stop_after_attempt(self.endpoint.retries + 1),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception(_is_drop), reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return _LoopThread.submit(self._bounded(operation))
        except MediasyncError:
            raise
        except BaseException as exc:
            if _is_drop(exc):
                raise self.errors.failure(
                    f"sftp {self.label}: connection lost ({_reason(exc)})", retryable=True
                ) from None
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def ask(self, command: str, line: bytes) -> bytes | None:
        """Send one line to a long-running `command` on the server and return its one-line
        answer (from inside an operation). The command is started once per connection,
        since starting a session costs far more than the answer; None when the server
        refuses commands."""
        answers = await self.ask_many(command, [line])
        return answers[0] if answers is not None else None

    async def ask_many(self, command: str, lines: Sequence[bytes]) -> list[bytes] | None:
        """`ask` for many lines: every line is sent before the first answer is read, so a
        batch costs one round trip, not one per line."""
        worker = self._workers.get(command)
        if worker is None:
            assert self._connection is not None, "ask runs inside call()"
            try:
                process = await self._connection.create_process(command, encoding=None)
            except asyncssh.ChannelOpenError:
                return None
            worker = self._workers[command] = (process, asyncio.Lock())
        process, turn = worker
        answers: list[bytes] = []
        async with turn:  # one batch at a time: answers come back in order
            process.stdin.write(b"".join(line + b"\n" for line in lines))
            for _ in lines:
                answer = await process.stdout.readline()
                if not answer:
                    break
                answers.append(answer.rstrip(b"\n"))
        if len(answers) == len(lines):
            return answers
        del self._workers[command]
        if self._connection is None or self._connection.is_closed():
            raise asyncssh.ConnectionLost(f"connection closed while running {command}")
        return None  # the command ended: no shell for this user, or no such program

    def release(self, command: str) -> None:
        """End `command`'s long-running process, if it runs: its input ends, so it exits
        and its session closes (from inside an operation)."""
        worker = self._workers.pop(command, None)
        if worker is not None:
            worker[0].stdin.write_eof()

    def connect(self) -> None:
        """Open the connection now: a way to fail early with a clear message."""
        async def nothing(_: asyncssh.SFTPClient) -> None:
            return None
        self.call(nothing)

    # -- on the loop --------------------------------------------------------------------

    async def _bounded(self, operation: Operation[T]) -> T:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.endpoint.parallel_transfers)
        async with self._slots:
            client = await self._client()
            try:
                return await operation(client)
            except BaseException as exc:
                # only the connection that failed is dropped, not a fresh one another
                # operation has opened meanwhile
                if _is_drop(exc) and self._sftp is client:
                    await self._forget()
                raise

    async def _client(self) -> asyncssh.SFTPClient:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._sftp is None:
                self._connection = await self._open()
                self._sftp = await self._connection.start_sftp_client()
            return self._sftp

    async def _open(self) -> asyncssh.SSHClientConnection:
        try:
            connection, _ = await asyncssh.create_connection(
                lambda: _KeySeen(self), self.endpoint.host, self.endpoint.port,
                **self._options())
        except asyncssh.HostKeyNotVerifiable:
            raise self.errors.auth(self._host_key_problem()) from None
        except asyncssh.PermissionDenied:
            raise self.errors.auth(self._auth_problem()) from None
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise self.errors.auth(f"sftp {self.label}: cannot use key file {self.key_file}"
                                   f" ({_reason(exc)})") from None
        except OSError as exc:
            raise self.errors.failure(f"sftp {self.label}: cannot connect ({_reason(exc)})",
                                      retryable=True) from None
        return connection

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "username": self.user, "known_hosts": self._trusted(), "config": (),
            "connect_timeout": self.endpoint.connect_timeout_seconds,
            "encryption_algs": CIPHERS,
        }
        if self.key_file is not None:  # exactly this key, nothing from the agent
            options.update(client_keys=[str(self.key_file)], agent_path=None,
                           passphrase=_secret(self.endpoint.key_passphrase))
        return options

    def _trusted(self) -> asyncssh.SSHKnownHosts:
        if self.known_hosts.is_file():
            return asyncssh.read_known_hosts(str(self.known_hosts))
        return asyncssh.import_known_hosts("")

    def _host_key_problem(self) -> str:
        fingerprint = self.offered_key.get_fingerprint() if self.offered_key else "unknown"
        host, port = self.endpoint.host, self.endpoint.port
        recorded = asyncssh.match_known_hosts(self._trusted(), host, host, port)[0]
        if recorded:
            return (f"sftp {self.label}: host key CHANGED: the server offers {fingerprint},"
                    f" which does not match {self.known_hosts}; refusing to connect")
        return (f"sftp {self.label}: unknown host key {fingerprint}, not in"
                f" {self.known_hosts}; check it and add it (ssh-keyscan -p {port} {host})")

    def _auth_problem(self) -> str:
        key = f"key file {self.key_file}" if self.key_file else "the ssh agent's keys"
        return f"sftp {self.label}: authentication failed with {key}"

    async def _forget(self) -> None:
        connection, self._connection, self._sftp = self._connection, None, None
        self._workers.clear()
        if connection is not None:
            connection.abort()


async def sftp_sha256(sftp: asyncssh.SFTPClient, path: bytes | str) -> str:
    """Hash a remote file by reading it over SFTP."""
    digest = hashlib.sha256()
    async with sftp.open(path, "rb") as handle:
        offset = 0
        while chunk := await handle.read(TRANSFER_CHUNK, offset):
            digest.update(chunk)
            offset += len(chunk)
    return digest.hexdigest()


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
