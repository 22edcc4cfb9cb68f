"""`mediasync sftp check` against the real sshd."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mediasync.cli.sftp import app
from tests.sftp.conftest import endpoint_toml, make_tree
from tests.sftp.sshd import Sshd


def _config(tmp_path: Path, sshd: Sshd, known_hosts: Path | None = None) -> Path:
    (tmp_path / "server").mkdir()
    (tmp_path / "nas").mkdir()
    make_tree(tmp_path / "server", 7)
    config = tmp_path / "mediasync.toml"
    config.write_text('[source]\nkind = "sftp"\n'
                      + endpoint_toml("sftp.source", sshd, tmp_path / "server", known_hosts)
                      + endpoint_toml("sftp.archive", sshd, tmp_path / "nas", known_hosts))
    return config


def test_check_reports_both_ends_and_writes_nothing(tmp_path: Path, sshd: Sshd):
    result = CliRunner().invoke(app, ["check", "--config", str(_config(tmp_path, sshd))])
    assert result.exit_code == 0, result.output
    assert "7 files match" in result.output
    assert ("writable; files are sent by OpenSSH's sftp over 4 connections and verified by"
            " python3 hashlib on the server") in result.output
    assert list((tmp_path / "nas").iterdir()) == []


def test_check_names_the_unknown_host_key(tmp_path: Path, sshd: Sshd):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = CliRunner().invoke(app, ["check", "--config", str(_config(tmp_path, sshd, empty))])
    assert result.exit_code == 1
    assert f"unknown host key {sshd.host_fingerprint()}" in result.output
    assert len(result.output.strip().splitlines()) == 1
