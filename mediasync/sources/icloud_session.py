"""The iCloud session: where it is kept, how an unattended run resumes it, when it ends.

pyicloud keeps the session token and cookies in a cookie directory; `mediasync icloud
login` fills it, every run after that reuses it without a password and without ever
prompting. A session that no longer validates is an AuthError with the re-login message.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from http.cookiejar import LWPCookieJar
from pathlib import Path

from pyicloud import PyiCloudService
from pyicloud.exceptions import (
    PyiCloud2FARequiredException,
    PyiCloud2SARequiredException,
    PyiCloudAPIResponseException,
    PyiCloudAuthRequiredException,
    PyiCloudConnectionException,
    PyiCloudFailedLoginException,
)

from mediasync.errors import AuthError, ConfigError, SourceError
from mediasync.settings import ICloudSettings, Settings

EXPIRED = "iCloud session expired: run `mediasync icloud login`"
DEFAULT_COOKIE_DIR = Path("icloud-session")
# cookies whose expiry bounds how long a trusted session lasts
_SESSION_COOKIES = ("X-APPLE-WEBAUTH-HSA-TRUST", "X-APPLE-WEBAUTH-TOKEN",
                    "X-APPLE-WEBAUTH-USER")


class ConfiguredService(PyiCloudService):
    """PyiCloudService that talks to the endpoints in the settings when they are given
    (a test server or a proxy), and to Apple otherwise."""

    endpoints = None  # set per subclass by service_class()

    def _setup_endpoints(self) -> None:
        super()._setup_endpoints()
        if self.endpoints is not None:
            self._auth_endpoint = self.endpoints.auth.rstrip("/")
            self._idmsa_endpoint = self._auth_endpoint.rsplit("/appleauth", 1)[0]
            self._setup_endpoint = self.endpoints.setup.rstrip("/")
            self._home_endpoint = self.endpoints.home.rstrip("/")


def service_class(icloud: ICloudSettings) -> type[PyiCloudService]:
    return type("ICloudService", (ConfiguredService,), {"endpoints": icloud.endpoints})


def username(settings: Settings) -> str:
    if not settings.icloud.username:
        raise ConfigError("icloud.username is not set (the Apple ID to sign in with)")
    return settings.icloud.username


def cookie_directory(settings: Settings) -> Path:
    """The session folder, created private (0700) and kept private."""
    folder = settings.resolve(settings.icloud.cookie_directory or DEFAULT_COOKIE_DIR)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def new_service(settings: Settings, password: str | None = None) -> PyiCloudService:
    """A service on the stored session; signs in with `password` when one is given."""
    icloud = settings.icloud
    service = service_class(icloud)(
        username(settings), password, cookie_directory=str(cookie_directory(settings)),
        authenticate=False)
    if icloud.endpoints and icloud.endpoints.ca_bundle:
        # requests lets REQUESTS_CA_BUNDLE override a session's own CA: not here
        service.session.trust_env = False
        service.session.verify = str(settings.resolve(icloud.endpoints.ca_bundle))
    if password is not None:
        service.authenticate()
    return service


def resume(settings: Settings) -> PyiCloudService:
    """The stored session, validated; never asks for anything. Without a password
    pyicloud cannot fall back to a fresh sign-in, so it cannot trigger a 2FA prompt."""
    service = new_service(settings)
    try:
        service.authenticate()
    except PyiCloudConnectionException as exc:
        raise SourceError("iCloud cannot be reached", retryable=True) from exc
    except (PyiCloudFailedLoginException, PyiCloud2FARequiredException,
            PyiCloud2SARequiredException, PyiCloudAuthRequiredException,
            PyiCloudAPIResponseException) as exc:
        raise AuthError(EXPIRED) from exc
    if service.requires_2fa or service.requires_2sa or not service.is_trusted_session:
        raise AuthError(EXPIRED)
    return service


def session_expiry(service: PyiCloudService) -> datetime | None:
    """About when the stored session stops working: the latest expiry among the session
    cookies pyicloud saved (None when there are none)."""
    jar_path = service.session.cookiejar_path
    if not os.path.exists(jar_path):
        return None
    jar = LWPCookieJar(jar_path)
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except (OSError, ValueError):
        return None
    expiries = [c.expires for c in jar if c.name in _SESSION_COOKIES and c.expires]
    return datetime.fromtimestamp(max(expiries), UTC) if expiries else None

