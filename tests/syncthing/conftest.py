"""Two real Syncthing instances for the whole session: `computer` (send-only) and `phone`
(receive-only). Each test shares its own folder between them, so tests do not see each
other's files."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from mediasync.pixel.syncthing import SyncthingClient
from tests.syncthing.syncthing_pair import Pair, Shared, share_folder, start_pair


@pytest.fixture(scope="session")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if shutil.which("syncthing") is None:
        # a required system package (scripts/setup.sh): missing is an error, not a skip
        pytest.fail("syncthing is not installed: run scripts/test.sh, which installs it")
    started = start_pair(tmp_path_factory.mktemp("syncthing"))
    yield started
    started.stop()


@pytest.fixture
def running_pair(pair: Pair) -> Pair:
    """The pair with both instances up and connected, whatever an earlier test did."""
    for instance in (pair.computer, pair.phone):
        if not instance.running:
            instance.start()
    pair.wait_connected()
    return pair


@pytest.fixture
def shared(running_pair: Pair, tmp_path: Path) -> Iterator[Shared]:
    folder = share_folder(running_pair, tmp_path)
    yield folder
    running_pair.unshare(folder.folder_id)


@pytest.fixture
def client(running_pair: Pair) -> Iterator[SyncthingClient]:
    with SyncthingClient(running_pair.computer.url,
                         SecretStr(running_pair.computer.api_key)) as api:
        yield api
