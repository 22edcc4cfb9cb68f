"""Is Syncthing set up to carry the Pixel folder to the phone? The checks behind
`mediasync syncthing check`, and the gate steps 2 and 3 pass before doing anything."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mediasync.errors import (
    ConfigError,
    SyncthingError,
    SyncthingFolderError,
    SyncthingKeyRejected,
    SyncthingUnreachable,
)
from mediasync.pixel.phone import PixelTarget
from mediasync.pixel.syncthing import FolderConfig, SyncthingClient, short_id
from mediasync.settings import Settings


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str


def folder_findings(folder: FolderConfig, target: PixelTarget, own_id: str) -> list[Finding]:
    """The folder as configured in Syncthing, against what Pixel sync needs."""
    name = f"folder {folder.id!r}"
    device = short_id(target.device_id)
    if target.device_id == own_id:
        shared = Finding("shared", Status.FAIL, f"syncthing.device_id {device} is this "
                         "computer's own device, not the phone's")
    elif target.device_id not in folder.devices:
        shared = Finding("shared", Status.FAIL, f"{name} is not shared with device {device}")
    else:
        shared = Finding("shared", Status.OK, f"{name} is shared with device {device}")
    if folder.paused:
        kind = Finding("folder type", Status.FAIL, f"{name} is paused on this computer: "
                       "resume it in Syncthing")
    elif folder.type == "sendonly":
        kind = Finding("folder type", Status.OK, "sendonly here (the phone should be "
                       "receiveonly)")
    elif folder.type == "sendreceive":
        kind = Finding("folder type", Status.WARN, f"{name} is sendreceive here: changes made "
                       "on the phone come back; sendonly is safer")
    else:
        kind = Finding("folder type", Status.FAIL, f"{name} is {folder.type} here: this "
                       "computer must send (sendonly)")
    if (target.folder / folder.marker).exists():
        marker = Finding("Pixel folder", Status.OK, f"{target.folder} is Syncthing's folder")
    else:
        marker = Finding("Pixel folder", Status.FAIL, f"workflow.pixel_sync ({target.folder}) "
                         f"has no {folder.marker} marker: it is not the folder Syncthing "
                         f"shares as {folder.id!r} (Syncthing has it at {folder.path})")
    return [shared, kind, marker]


def folder_state(client: SyncthingClient, folder: FolderConfig) -> Finding:
    status = client.folder_status(folder.id)
    if status.get("state") == "error":
        return Finding("folder", Status.FAIL, f"folder {folder.id!r} is in error in "
                       f"Syncthing: {status.get('error')}")
    return Finding("folder", Status.OK, f"{folder.id!r} ({folder.label}) at {folder.path}, "
                   f"{status.get('state')}")


def ensure_ready(client: SyncthingClient, target: PixelTarget) -> FolderConfig:
    """Raise every reason Syncthing cannot carry files to the device (read-only calls)."""
    own_id = client.my_id()
    folder = client.folder_config(target.folder_id)
    findings = [folder_state(client, folder), *folder_findings(folder, target, own_id)]
    problems = [f.detail for f in findings if f.status == Status.FAIL]
    if problems:
        raise SyncthingFolderError("; ".join(problems))
    return folder


def diagnose(settings: Settings) -> list[Finding]:
    """Every check, each with its own verdict, stopping only where the next cannot run."""
    try:
        target = PixelTarget.from_settings(settings)
        client = SyncthingClient.from_settings(settings.syncthing)
    except ConfigError as exc:
        return [Finding("settings", Status.FAIL, str(exc))]
    with client:
        return _diagnose(client, target)


def _diagnose(client: SyncthingClient, target: PixelTarget) -> list[Finding]:
    try:
        own_id = client.my_id()
    except SyncthingUnreachable as exc:
        return [Finding("Syncthing", Status.FAIL, str(exc))]
    except SyncthingKeyRejected as exc:
        return [Finding("Syncthing", Status.OK, f"answers at {client.url}"),
                Finding("API key", Status.FAIL, str(exc))]
    findings = [Finding("Syncthing", Status.OK, f"{client.version()} at {client.url}, this "
                        f"device {short_id(own_id)}"),
                Finding("API key", Status.OK, "accepted")]
    try:
        folder = client.folder_config(target.folder_id)
    except SyncthingFolderError as exc:
        return [*findings, Finding("folder", Status.FAIL, str(exc))]
    findings += [folder_state(client, folder), *folder_findings(folder, target, own_id)]
    try:
        findings.append(_device(client, target, folder))
    except SyncthingError as exc:  # the table so far is still the answer
        findings.append(Finding("device", Status.FAIL, str(exc)))
    return findings


def _device(client: SyncthingClient, target: PixelTarget, folder: FolderConfig) -> Finding:
    state = client.device_state(target.device_id)
    if not state.connected:
        return Finding("device", Status.FAIL, state.describe())
    # a paused folder has no completion to ask for (Syncthing answers "no such folder")
    if target.device_id not in folder.devices or folder.paused:
        return Finding("device", Status.OK, state.describe())
    completion = client.completion(target.folder_id, target.device_id)
    if completion.sequence == 0:
        return Finding("device", Status.WARN, f"{state.describe()}, but it has announced "
                       "nothing in this folder: accept the folder on the phone (fine if the "
                       "folder is still empty)")
    return Finding("device", Status.OK, f"{state.describe()}, {completion.need_items} items "
                   "still to receive")
