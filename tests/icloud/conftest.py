"""Fixtures for the iCloud source: the fake iCloud server, settings pointing at it, and
a session signed in through the real pyicloud sign-in flow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediasync.cli.demo import DEMO_CONFIG
from mediasync.settings import Settings, load_settings
from mediasync.sources.icloud import ICloudSource
from mediasync.sources.icloud_session import new_service
from tests.fakes.icloud_server import FakeICloud, make_library
from tests.icloud.media import real_library

LIBRARY_SIZE = 150
# the real-media library of tests/icloud/media.py
RECORDS = ["L000", "L001", "P000", "P001", "P002", "P003", "P004", "P005", "V000"]
FILES = 11  # six photos, two live photos of two files each, one video


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
        "endpoints": server.endpoints(),
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


def endpoints_toml(server: FakeICloud) -> str:
    return "[icloud.endpoints]\n" + "".join(
        f'{key} = "{value}"\n' for key, value in server.endpoints().items())


def write_config(server: FakeICloud, root: Path) -> Path:
    """The demo's installation on the iCloud source, deleting on, every guard."""
    folder_source = 'kind = "folder"\npath = "library"'
    assert folder_source in DEMO_CONFIG
    (root / "nas_archive").mkdir(exist_ok=True)
    config = root / "mediasync.toml"
    config.write_text(DEMO_CONFIG.replace(folder_source, 'kind = "icloud"') + f"""
[guards]
keep_recent_days = 30
max_deletes_per_run = 200
delete_interval_seconds = 0

[icloud]
username = "{server.state.account.apple_id}"
delete = true
backoff_seconds = 0.01
max_backoff_seconds = 0.05

""" + endpoints_toml(server))
    return config


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[FakeICloud]:
    with FakeICloud() as fake:
        fake.add_photos(real_library(tmp_path))
        yield fake


@pytest.fixture
def media_settings(media_server: FakeICloud, tmp_path: Path) -> Settings:
    """Signed in, on a library of real media."""
    home = tmp_path / "home"
    home.mkdir()
    loaded = load_settings(write_config(media_server, home))
    sign_in(loaded, media_server)
    return loaded
