"""`mediasync icloud login` and `status`, through typer's runner, against the fake iCloud."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring
from pyicloud.utils import store_password_in_keyring
from typer.testing import CliRunner, Result

from mediasync.cli.icloud import app
from tests.fakes.icloud_server import Account, FakeICloud
from tests.icloud.conftest import endpoints_toml

runner = CliRunner()


class TempKeyring(PlaintextKeyring):
    """A file keyring inside the test's folder, never the user's."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder

    @property
    def file_path(self) -> str:  # type: ignore[override]
        return str(self._folder / "keyring.cfg")


@pytest.fixture(autouse=True)
def temp_keyring(tmp_path: Path) -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(TempKeyring(tmp_path))
    yield
    keyring.set_keyring(previous)


def write_config(server: FakeICloud, folder: Path) -> Path:
    config = folder / "mediasync.toml"
    config.write_text(f"""
[icloud]
username = "{server.state.account.apple_id}"
cookie_directory = "session"

""" + endpoints_toml(server))
    return config


def login(config: Path, *answers: str, options: tuple[str, ...] = ()) -> Result:
    """`mediasync icloud login`, typing each answer at its prompt."""
    return runner.invoke(app, ["login", "--config", str(config), *options],
                         input="".join(f"{answer}\n" for answer in answers))


def test_login_with_2fa_then_status(server: FakeICloud, tmp_path: Path) -> None:
    config = write_config(server, tmp_path)
    account = server.state.account
    result = login(config, account.password, account.code)
    assert result.exit_code == 0, result.output
    assert "Signed in to iCloud as user@example.com" in result.output
    assert "valid until about" in result.output
    assert account.password not in result.output
    folder = tmp_path / "session"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert any(p.suffix == ".cookiejar" for p in folder.iterdir())

    status = runner.invoke(app, ["status", "--config", str(config)])
    assert status.exit_code == 0, status.output
    assert "is valid until about" in status.output


def test_status_after_expiry_says_to_log_in(server: FakeICloud, tmp_path: Path) -> None:
    config = write_config(server, tmp_path)
    account = server.state.account
    login(config, account.password, account.code)
    server.expire_sessions(421)
    status = runner.invoke(app, ["status", "--config", str(config)])
    assert status.exit_code == 1
    assert "iCloud session expired: run `mediasync icloud login`" in status.output


def test_wrong_password_is_one_clear_line(server: FakeICloud, tmp_path: Path) -> None:
    config = write_config(server, tmp_path)
    result = login(config, "nope")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == \
        "error: iCloud refused the Apple ID or password"


def test_wrong_code_is_refused(server: FakeICloud, tmp_path: Path) -> None:
    config = write_config(server, tmp_path)
    result = login(config, server.state.account.password, "000000")
    assert result.exit_code == 1
    assert "refused the verification code" in result.output
    status = runner.invoke(app, ["status", "--config", str(config)])
    assert status.exit_code == 1


def test_two_step_device_choice(tmp_path: Path) -> None:
    with FakeICloud(Account(mode="hsa1")) as server:
        config = write_config(server, tmp_path)
        account = server.state.account
        result = login(config, account.password, "0", account.code)
        assert result.exit_code == 0, result.output
        assert "0: SMS to ********12" in result.output
        assert server.requests("sendVerificationCode")
        assert runner.invoke(app, ["status", "--config", str(config)]).exit_code == 0


def test_password_from_the_keyring(server: FakeICloud, tmp_path: Path) -> None:
    config = write_config(server, tmp_path)
    store_password_in_keyring(server.state.account.apple_id, server.state.account.password)
    result = login(config, server.state.account.code)
    assert result.exit_code == 0, result.output
    assert "password" not in result.output.lower()


def test_save_password_in_the_keyring(server: FakeICloud, tmp_path: Path) -> None:
    config = write_config(server, tmp_path)
    account = server.state.account
    result = login(config, account.password, account.code, options=("--save-password",))
    assert result.exit_code == 0, result.output
    assert keyring.get_password("pyicloud://icloud-password", account.apple_id) == \
        account.password


def test_login_without_a_username(tmp_path: Path) -> None:
    config = tmp_path / "mediasync.toml"
    config.write_text("[icloud]\n")
    result = runner.invoke(app, ["login", "--config", str(config)])
    assert result.exit_code == 1
    assert "icloud.username is not set" in result.output
