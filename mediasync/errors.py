"""Every error mediasync raises on purpose.

    MediasyncError                 one-line message; `retryable` tells the orchestrator
    ├── ConfigError                a setting is missing or wrong
    ├── LedgerError                the ledger cannot be read or written
    │   ├── IllegalTransition      a stage change the state machine refuses
    │   └── LedgerBusy             another run holds the ledger's run lock
    ├── SourceError                the source refused or answered something unusable
    │   ├── AuthError              credentials or session rejected or expired
    │   └── RateLimited            the source asks us to slow down (retryable)
    ├── FileProblem                one file is bad: it fails alone, the step goes on
    │   ├── DownloadMismatch       bytes received differ from what the source announced
    │   └── MediaError             undecodable, truncated, unsupported
    ├── ArchiveError               the NAS archive cannot be written or verified
    ├── WorkingFolderError         one of our own working folders cannot be written
    ├── SyncthingError             Syncthing unreachable, key rejected, folder unknown, timeout
    ├── ScanError                  a folder to watch or reconcile is missing or unreadable
    ├── TableError                 a table reconciled with a bucket refused a read or write
    └── UnsafeDelete               a delete was refused by a safety gate or the circuit breaker

Messages never contain secrets: callers pass names and paths, never credentials.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


class MediasyncError(Exception):
    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None,
                 subject: str | Path | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable
        self.subject = str(subject) if subject is not None else None

    def __str__(self) -> str:
        # One line, whatever the message was built from.
        return " ".join(super().__str__().split())


class ConfigError(MediasyncError):
    pass


class LedgerError(MediasyncError):
    pass


class IllegalTransition(LedgerError):
    pass


class LedgerBusy(LedgerError):
    def __init__(self, message: str, *, held_since: datetime | None = None,
                 **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.held_since = held_since


class SourceError(MediasyncError):
    pass


class AuthError(SourceError):
    pass


class RateLimited(SourceError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class FileProblem(MediasyncError):
    pass


class DownloadMismatch(FileProblem):
    pass


class MediaError(FileProblem):
    pass


class ArchiveError(MediasyncError):
    pass


class WorkingFolderError(MediasyncError):
    """A fault of this machine (full, read-only), never of the file or the source."""


class SyncthingError(MediasyncError):
    pass


class ScanError(MediasyncError):
    pass


class TableError(MediasyncError):
    pass


class UnsafeDelete(MediasyncError):
    pass


class SyncthingUnreachable(SyncthingError):
    """Nothing answers at the configured URL (not running, wrong port): worth a retry."""

    retryable = True


class SyncthingKeyRejected(SyncthingError):
    """Syncthing answered 401/403: the API key is wrong or missing."""


class SyncthingFolderError(SyncthingError):
    """The Pixel folder is unknown, not shared with the device, paused or of the wrong type."""


class SyncthingTimeout(SyncthingError):
    """The device did not confirm every file in time; `missing` names the files still waited
    for."""

    def __init__(self, message: str, *, missing: list[str], **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.missing = missing


class DeviceNotConnected(SyncthingTimeout):
    """The wait ran out while the device was not connected at all."""
