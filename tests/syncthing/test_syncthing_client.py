"""The REST client against a real Syncthing: answers, and every failure as one line."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr

from mediasync.errors import (
    ConfigError,
    SyncthingError,
    SyncthingFolderError,
    SyncthingKeyRejected,
    SyncthingUnreachable,
)
from mediasync.pixel.syncthing import SyncthingClient, parse_time_ns
from tests.syncthing.syncthing_pair import Pair, Shared, free_port, share_folder


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_status_and_identity(client: SyncthingClient, running_pair: Pair) -> None:
    client.ping()
    assert client.my_id() == running_pair.computer.device_id
    assert client.version().startswith("v1.")
    assert client.calls["GET /rest/system/ping"] == 1


def test_folder_config_and_status(client: SyncthingClient, shared: Shared,
                                  running_pair: Pair) -> None:
    folder = client.folder_config(shared.folder_id)
    assert folder.type == "sendonly"
    assert running_pair.phone.device_id in folder.devices
    assert folder.marker == ".stfolder"
    assert client.folder_status(shared.folder_id)["localFiles"] == 0


def test_phone_connection_is_reported(client: SyncthingClient, running_pair: Pair) -> None:
    state = client.device_state(running_pair.phone.device_id)
    assert state.connected and state.last_seen is not None
    assert state.describe().endswith("connected")
    stranger = client.device_state("A" * 7 + "-" + "B" * 55)
    assert not stranger.known
    assert "not configured" in stranger.describe()


def test_wrong_key_is_rejected_without_showing_it(running_pair: Pair) -> None:
    wrong = "wrong-key-6b1d2f9c"
    with SyncthingClient(running_pair.computer.url, SecretStr(wrong)) as api, \
            pytest.raises(SyncthingKeyRejected) as caught:
        api.ping()
    text = one_line(caught)
    assert "rejected the API key" in text and running_pair.computer.url in text
    assert wrong not in text and running_pair.computer.api_key not in text
    assert wrong not in repr(caught.value.__cause__)


def test_syncthing_not_running_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with SyncthingClient(url, SecretStr("key"), timeout=2) as api, \
            pytest.raises(SyncthingUnreachable) as caught:
        api.ping()
    assert f"unreachable at {url}" in one_line(caught)
    assert caught.value.retryable


def test_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="api_url"):
        SyncthingClient("localhost:8384", SecretStr("key")).ping()


UNKNOWN_FOLDER_CALLS: dict[str, Callable[[SyncthingClient, str], object]] = {
    "config": lambda api, device: api.folder_config("no-such-folder"),
    "status": lambda api, device: api.folder_status("no-such-folder"),
    "file": lambda api, device: api.file_info("no-such-folder", "a.jpg"),
    "completion": lambda api, device: api.completion("no-such-folder", device),
    "remoteneed": lambda api, device: api.remote_need("no-such-folder", device),
    "scan": lambda api, device: api.scan("no-such-folder", ["a.jpg"]),
}


@pytest.mark.parametrize("call", UNKNOWN_FOLDER_CALLS)
def test_unknown_folder_is_named(client: SyncthingClient, running_pair: Pair, call: str) -> None:
    with pytest.raises(SyncthingFolderError) as caught:
        UNKNOWN_FOLDER_CALLS[call](client, running_pair.phone.device_id)
    assert "has no folder 'no-such-folder'" in one_line(caught)


def test_unknown_file_is_none(client: SyncthingClient, shared: Shared) -> None:
    assert client.file_info(shared.folder_id, "never-there.jpg") is None


def test_targeted_scan_indexes_exactly_the_named_files(
        client: SyncthingClient, running_pair: Pair, tmp_path: Path) -> None:
    # no watcher: only our scan can index anything
    folder = share_folder(running_pair, tmp_path, fsWatcherEnabled=False)
    try:
        (folder.computer_dir / "wanted.jpg").write_bytes(b"w" * 100)
        (folder.computer_dir / "other.jpg").write_bytes(b"o" * 100)
        since = client.latest_event_id(["LocalIndexUpdated"])
        client.scan(folder.folder_id, ["wanted.jpg"])
        info = client.file_info(folder.folder_id, "wanted.jpg")
        assert info is not None and info.local is not None and info.local.size == 100
        assert client.file_info(folder.folder_id, "other.jpg") is None
        events = client.events(["LocalIndexUpdated"], since, timeout=5)
        assert any("wanted.jpg" in e.data.get("filenames", []) for e in events)
    finally:
        running_pair.unshare(folder.folder_id)


def test_scan_with_no_names_scans_nothing(client: SyncthingClient) -> None:
    client.scan("whatever", [])
    assert client.requests == 0


def test_syncthing_times_are_read_to_the_nanosecond() -> None:
    assert parse_time_ns("2026-11-21T17:27:04.952532046Z") == 1_795_282_024_952_532_046
    assert parse_time_ns("2026-11-21T18:27:04.5+01:00") == 1_795_282_024_500_000_000
    assert parse_time_ns("2026-11-21T17:27:04Z") == 1_795_282_024_000_000_000


def test_something_else_at_the_url_is_named(tmp_path: Path) -> None:
    """A web server that is not Syncthing (a wrong port) answers 200 with HTML."""
    (tmp_path / "rest" / "system").mkdir(parents=True)
    (tmp_path / "rest" / "system" / "ping").write_text("<html>hello</html>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with SyncthingClient(url, SecretStr("key")) as api, \
                pytest.raises(SyncthingError) as caught:
            api.ping()
        assert "something other than JSON" in one_line(caught)
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        return None
