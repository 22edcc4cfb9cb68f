"""An unknown or changed host key and a rejected user key stop the step with one clear
line, and change nothing: no file, no ledger row, nothing on the server."""

from __future__ import annotations

import subprocess

import pytest

from mediasync.cli.config_check import check_settings
from mediasync.errors import ArchiveError, AuthError, ConfigError
from mediasync.model import Stage
from mediasync.settings import Settings, SftpSourceSettings, load_settings
from mediasync.sources import build_source
from mediasync.sources.sftp import SftpSource
from tests.helpers import tree_snapshot
from tests.sftp.conftest import SftpWorkspace, archive_on, endpoint_toml, make_tree
from tests.sftp.sshd import Sshd


def _source_only(ws: SftpWorkspace, sshd: Sshd, **endpoint: object) -> None:
    ws.config.write_text(ws.config.read_text().split("\n[sftp.source]")[0]
                         + endpoint_toml("sftp.source", sshd, ws.server, **endpoint))  # type: ignore[arg-type]


def test_unknown_host_key_stops_download_and_changes_nothing(
        sftp_workspace: SftpWorkspace, sshd: Sshd, prefect_api: str):
    ws = sftp_workspace
    make_tree(ws.server, 5)
    empty = ws.root / "empty_known_hosts"
    empty.write_text("")
    _source_only(ws, sshd, known_hosts=empty)
    before = tree_snapshot(ws.root)

    state = ws.run(start=1, end=1)
    assert state.is_failed()
    assert "unknown host key" in state.message and sshd.host_fingerprint() in state.message
    assert "\n" not in state.message
    assert ws.ledger().counts_by_stage() == {}
    assert {k: v for k, v in tree_snapshot(ws.root).items() if "mediasync.db" not in k} == {
        k: v for k, v in before.items() if "mediasync.db" not in k}


def test_wrong_user_key_stops_download_and_changes_nothing(
        sftp_workspace: SftpWorkspace, sshd: Sshd, prefect_api: str):
    ws = sftp_workspace
    make_tree(ws.server, 5)
    _source_only(ws, sshd, key_file=sshd.wrong_key)

    state = ws.run(start=1, end=1)
    assert state.is_failed()
    assert f"authentication failed with key file {sshd.wrong_key}" in state.message
    assert ws.ledger().counts_by_stage() == {}
    assert not (ws.root / "workflow" / "incoming").exists() or not any(
        (ws.root / "workflow" / "incoming").iterdir())


def test_archive_refuses_a_changed_host_key_and_writes_nothing(
        sftp_workspace: SftpWorkspace, sshd: Sshd, prefect_api: str):
    ws = sftp_workspace
    make_tree(ws.server, 5)
    assert ws.run(start=1, end=1).is_completed()
    impostor = ws.root / "impostor_known_hosts"  # the server's name, another key
    impostor.write_text(f"[127.0.0.1]:{sshd.port} {sshd.wrong_key.with_suffix('.pub').read_text()}")
    text = ws.config.read_text().split("\n[sftp.archive]")[0]
    ws.config.write_text(text + endpoint_toml("sftp.archive", sshd, ws.remote_nas,
                                              known_hosts=impostor))

    state = ws.run(start=4, end=4)
    assert state.is_failed()
    assert "host key CHANGED" in state.message and sshd.host_fingerprint() in state.message
    assert list(ws.remote_nas.iterdir()) == []
    assert ws.ledger().counts_by_stage() == {Stage.DOWNLOADED: 5}


def test_wrong_passphrase_is_one_line_without_the_secret(tmp_path, sshd: Sshd):
    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "right-one", "-f", str(key)],
                   check=True)
    config = SftpSourceSettings(host="127.0.0.1", port=sshd.port, key_file=key,
                                known_hosts=sshd.known_hosts, key_passphrase="wrong-one")
    with pytest.raises(AuthError) as caught:
        SftpSource(config, Settings()).link.connect()
    assert "cannot use key file" in str(caught.value) and "wrong-one" not in str(caught.value)


def test_missing_archive_root_is_never_created(tmp_path, sshd: Sshd):
    with pytest.raises(ArchiveError, match="does not exist"):
        archive_on(sshd, tmp_path / "absent").check()
    assert not (tmp_path / "absent").exists()


def test_sftp_source_without_its_section_is_a_config_error(tmp_path):
    config = tmp_path / "mediasync.toml"
    config.write_text('[source]\nkind = "sftp"\n')
    with pytest.raises(ConfigError, match=r"sftp\.source: required"):
        build_source(load_settings(config))


def test_config_check_looks_at_the_sftp_files_not_the_local_nas(tmp_path):
    config = tmp_path / "mediasync.toml"
    config.write_text('[source]\nkind = "sftp"\n[sftp.source]\nhost = "h"\nkey_file = "gone"\n'
                      'known_hosts = "kh"\n[sftp.archive]\nhost = "nas"\nknown_hosts = "kh"\n')
    (tmp_path / "kh").write_text("")
    problems = check_settings(load_settings(config))
    assert f"sftp.source.key_file: {tmp_path / 'gone'} is not a readable file" in problems
    assert not any(p.startswith(("workflow.nas_archive", "sftp.archive")) for p in problems)


def test_config_check_refuses_openssh_upload_it_cannot_run(tmp_path, monkeypatch):
    config = tmp_path / "mediasync.toml"
    config.write_text('[sftp.archive]\nhost = "nas"\nupload = "openssh"\n'
                      'key_passphrase = "s3cret"\n')
    problems = check_settings(load_settings(config))
    assert ("sftp.archive.upload: openssh, but OpenSSH's sftp would ask for the key's"
            " passphrase; use auto or asyncssh") in problems
    assert not any("s3cret" in p for p in problems)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sftp program there
    problems = check_settings(load_settings(config))
    assert ("sftp.archive.upload: openssh, but no sftp program on PATH"
            " (package openssh-client); use auto or asyncssh") in problems
