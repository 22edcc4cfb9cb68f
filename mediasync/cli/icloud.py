"""`mediasync icloud login` and `mediasync icloud status`."""

from __future__ import annotations

from typing import Annotated, Any

import keyring
import typer
from keyring.errors import KeyringError
from pyicloud import PyiCloudService
from pyicloud.exceptions import PyiCloudException, PyiCloudFailedLoginException
from pyicloud.utils import get_password_from_keyring, store_password_in_keyring

from mediasync.cli.options import ConfigOption
from mediasync.errors import AuthError, MediasyncError
from mediasync.settings import Settings, load_settings
from mediasync.sources.icloud_session import (
    cookie_directory,
    new_service,
    resume,
    session_expiry,
    username,
)

app = typer.Typer(help="Sign in to iCloud and check the stored session.",
                  no_args_is_help=True)

KeyringOption = Annotated[bool, typer.Option(
    "--keyring/--no-keyring", help="read the password from the system keyring if stored")]


@app.command()
def login(config: ConfigOption = None, use_keyring: KeyringOption = True,
          save_password: Annotated[bool, typer.Option(
              "--save-password", help="keep the password in the system keyring")] = False,
          ) -> None:
    """Sign in (password, then the 2FA code or 2SA device choice), trust this session
    and keep it in the cookie directory, so that unattended runs never ask anything.

    Example: mediasync icloud login --config mediasync.toml
    """
    with _errors():
        settings = load_settings(config)
        apple_id = username(settings)
        password = _password(settings, apple_id, use_keyring)
        service = _sign_in(settings, password)
        _second_factor(service)
        if not service.is_trusted_session and not service.trust_session():
            raise AuthError("iCloud did not trust this session; run the login again")
        if save_password:
            _store(apple_id, password)
        typer.echo(f"Signed in to iCloud as {apple_id}; the session is valid "
                   f"{_until(service)}.")


@app.command()
def status(config: ConfigOption = None) -> None:
    """Say whether the stored iCloud session is valid, and until about when.

    Example: mediasync icloud status --config mediasync.toml
    """
    with _errors():
        settings = load_settings(config)
        service = resume(settings)
        typer.echo(f"iCloud session for {username(settings)} is valid {_until(service)} "
                   f"(kept in {cookie_directory(settings)}).")


def _password(settings: Settings, apple_id: str, use_keyring: bool) -> str:
    if settings.icloud.password is not None:
        return settings.icloud.password.get_secret_value()
    if use_keyring:
        try:
            stored = get_password_from_keyring(apple_id)
        except KeyringError:
            stored = None
        if stored:
            return stored
    return typer.prompt(f"Apple ID password for {apple_id}", hide_input=True)


def _sign_in(settings: Settings, password: str) -> PyiCloudService:
    try:
        return new_service(settings, password)
    except PyiCloudFailedLoginException as exc:
        raise AuthError("iCloud refused the Apple ID or password") from exc


def _second_factor(service: PyiCloudService) -> None:
    two_step = service.data.get("dsInfo", {}).get("hsaVersion") == 1
    if two_step and service.requires_2sa:
        _two_step(service)
    elif service.requires_2fa:
        code = typer.prompt("Enter the 6-digit code shown on one of your Apple devices")
        if not service.validate_2fa_code(code.strip()):
            raise AuthError("iCloud refused the verification code; run the login again")


def _two_step(service: PyiCloudService) -> None:
    devices = service.trusted_devices
    for number, device in enumerate(devices):
        typer.echo(f"  {number}: {_device_name(device)}")
    choice = typer.prompt("Send the code to which device", type=int, default=0)
    if not 0 <= choice < len(devices):
        raise AuthError(f"no device {choice}; run the login again")
    device = devices[choice]
    if not service.send_verification_code(device):
        raise AuthError("iCloud could not send the verification code")
    code = typer.prompt("Enter the code you received")
    if not service.validate_verification_code(device, code.strip()):
        raise AuthError("iCloud refused the verification code; run the login again")


def _device_name(device: dict[str, Any]) -> str:
    return str(device.get("deviceName") or f"SMS to {device.get('phoneNumber', '?')}")


def _store(apple_id: str, password: str) -> None:
    try:
        store_password_in_keyring(apple_id, password)
    except KeyringError as exc:
        raise AuthError(f"could not store the password in the keyring "
                        f"({keyring.get_keyring().name})") from exc


def _until(service: PyiCloudService) -> str:
    until = session_expiry(service)
    if until is None:
        return "until Apple ends it (trusted sessions last weeks)"
    return f"until about {until:%Y-%m-%d}"


class _errors:
    """Any failure becomes one line on stderr and exit status 1."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> bool:
        if isinstance(exc, MediasyncError):
            message = str(exc)
        elif isinstance(exc, PyiCloudException):
            message = f"iCloud refused the sign-in ({type(exc).__name__})"
        else:
            return False
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1) from None
