"""The Apple ID password and the session tokens never reach a log line or an error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mediasync.errors import MediasyncError
from mediasync.settings import Settings
from mediasync.sources.icloud import ICloudSource
from tests.fakes.icloud_server import FakeICloud
from tests.icloud.conftest import sign_in
from tests.icloud.test_delete import as_proven_file


def test_no_secret_in_logs_or_errors(settings: Settings, server: FakeICloud,
                                     tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    sign_in(settings, server)
    source = ICloudSource(settings, sleep=lambda s: None)
    assets = list(source.list_assets())[:3]
    for asset in assets:
        source.download(asset, tmp_path / "in" / asset.filename)
    server.fail("/content/", 429, times=10, retry_after=0)
    for failing in (lambda: source.download(assets[0], tmp_path / "x"),
                    lambda: _expire_and_list(server, settings)):
        try:
            failing()
        except MediasyncError as exc:
            errors += [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)]
    outcomes = source.delete([as_proven_file(a, n) for n, a in enumerate(assets, 1)])
    errors += [o.reason or "" for o in outcomes]
    assert len(errors) > 4 and caplog.records

    secrets = server.secrets()
    assert len(secrets) > 5  # password, session, trust, webauth, scnt, session-id tokens
    seen = caplog.text + "\n".join(errors) + str(settings.icloud)
    leaked = [s for s in secrets if s in seen]
    assert leaked == []


def _expire_and_list(server: FakeICloud, settings: Settings) -> None:
    server.expire_sessions(421)
    list(ICloudSource(settings).list_assets())
