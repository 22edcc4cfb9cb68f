"""Fixtures for the iCloud source: the fake iCloud server, settings pointing at it, and
a session signed in through the real pyicloud sign-in flow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasync.settings import Settings
from mediasync.sources.icloud import ICloudSource
from mediasync.sources.icloud_session import new_service
from tests.fakes.icloud_server import FakeICloud, make_library

LIBRARY_SIZE = 150


@pytest.fixture
def server() -> Iterator[FakeICloud]:
    with FakeICloud() as fake:
        fake.add_photos(make_library(LIBRARY_SIZE))
        yield fake


def icloud_settings(server: FakeICloud, folder: Path, **icloud: object) -> Settings:
    config = folder / "mediasync.toml"
    config.touch()
    values: dict[str, object] = {
        "username": server.state.account.apple_id,
        "endpoints": {"auth": f"{server.url}/appleauth/auth",
                      "setup": f"{server.url}/setup/ws/1", "home": f"{server.url}/home",
                      "ca_bundle": str(server.ca_path)},
        "backoff_seconds": 0.01, "max_backoff_seconds": 0.05,
    }
    values.update(icloud)
    return Settings(config_path=config, icloud=values)


@pytest.fixture
def settings(server: FakeICloud, tmp_path: Path) -> Settings:
    return icloud_settings(server, tmp_path)


def sign_in(settings: Settings, server: FakeICloud) -> None:
    """What `mediasync icloud login` does, through pyicloud: password, 2FA code, trust."""
    service = new_service(settings, server.state.account.password)
    if service.requires_2fa:
        assert service.validate_2fa_code(server.state.account.code)


@pytest.fixture
def source(settings: Settings, server: FakeICloud) -> ICloudSource:
    sign_in(settings, server)
    return ICloudSource(settings, sleep=lambda seconds: None)
