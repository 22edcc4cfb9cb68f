"""Every problem with a configuration, found at once, one line each."""

from __future__ import annotations

import os
from pathlib import Path

from mediasync.errors import MediasyncError
from mediasync.ledger import open_ledger
from mediasync.nas import identity as archive_identity
from mediasync.nas.archive import NasArchive
from mediasync.nas.openssh_put import why_not_usable
from mediasync.settings import Settings, SftpArchiveSettings

_WORKING = ("incoming", "pixel_sync", "processing", "icloud_delete", "compressed")


def check_settings(settings: Settings) -> list[str]:
    problems: list[str] = []
    for name in _WORKING:
        problems += _check_creatable(f"workflow.{name}",
                                     settings.resolve(getattr(settings.workflow, name)))
    if settings.sftp.archive is None:  # else the archive is checked when step 4 connects
        problems += _check_nas(settings.resolve(settings.workflow.nas_archive))
        fine, said = archive_identity_status(settings) or (True, "")
        problems += [] if fine else [f"workflow.nas_archive: {said}"]
    problems += _check_source(settings)
    problems += _check_sftp(settings)
    problems += _check_syncthing(settings)
    problems += _check_ledger(settings)
    return problems


def _check_nas(nas: Path) -> list[str]:
    if not nas.is_dir():
        return [f"workflow.nas_archive: {nas} does not exist (is the NAS mounted?)"]
    if not os.access(nas, os.W_OK):
        return [f"workflow.nas_archive: {nas} is not writable"]
    return []


def archive_identity_status(settings: Settings) -> tuple[bool, str] | None:
    """Whether a run would take the mounted archive for the ledger's (see
    archive_identity.status); None when the folder or the ledger cannot be read."""
    nas = settings.resolve(settings.workflow.nas_archive)
    if not nas.is_dir():
        return None
    try:
        ledger = open_ledger(settings.ledger.url, settings.base_dir, read_only=True,
                             timeout=settings.ledger.timeout_seconds)
    except MediasyncError:
        return None
    try:
        return archive_identity.status(ledger, NasArchive(nas))
    except MediasyncError as exc:
        return False, str(exc)
    finally:
        ledger.close()


def _check_sftp(settings: Settings) -> list[str]:
    """The files an SFTP connection needs (the connection itself is the step's to try)."""
    if settings.source.kind == "sftp" and settings.sftp.source is None:
        return ["sftp.source: required for an sftp source (host, root, ...)"]
    problems = []
    for name in ("source", "archive"):
        endpoint = getattr(settings.sftp, name)
        if endpoint is None or (name == "source" and settings.source.kind != "sftp"):
            continue
        files = [("known_hosts", endpoint.known_hosts), ("key_file", endpoint.key_file)]
        problems += [f"sftp.{name}.{label}: {settings.resolve(path)} is not a readable file"
                     for label, path in files
                     if path is not None and not os.access(settings.resolve(path), os.R_OK)]
    return problems + _check_upload(settings.sftp.archive)


def _check_upload(archive: SftpArchiveSettings | None) -> list[str]:
    if archive is None or archive.upload != "openssh":
        return []
    reason = why_not_usable(archive.key_passphrase is not None)
    return [f"sftp.archive.upload: openssh, but {reason}; use auto or asyncssh"] if reason else []


def _check_creatable(label: str, path: Path) -> list[str]:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [f"{label}: {existing} is not a folder"]
    if not os.access(existing, os.W_OK):
        return [f"{label}: {existing} is not writable"]
    return []


def _check_source(settings: Settings) -> list[str]:
    source = settings.source
    if source.kind == "folder":
        if source.path is None:
            return ["source.path: required for a folder source"]
        path = settings.resolve(source.path)
        if not path.is_dir():
            return [f"source.path: {path} does not exist or is not a folder"]
    if source.kind == "icloud" and not settings.icloud.username:
        return ["icloud.username: required for the iCloud source"]
    if source.kind == "bucket":
        return [f"bucket.{name}: required for the bucket source"
                for name in ("url", "service_key", "bucket")
                if not getattr(settings.bucket, name)]
    return []


def _check_syncthing(settings: Settings) -> list[str]:
    syncthing = settings.syncthing
    if not syncthing.enabled:
        return []
    return [f"syncthing.{name}: required when syncthing.enabled is true"
            for name in ("api_key", "folder_id", "device_id")
            if not getattr(syncthing, name)]


def _check_ledger(settings: Settings) -> list[str]:
    try:
        open_ledger(settings.ledger.url, settings.base_dir, read_only=True).close()
    except MediasyncError as exc:
        return [f"ledger.url: {exc}"]
    return []
