"""The real media-sync Prefect flow, steps 1 to 8, on the iCloud source: the fake iCloud
server, deleting on, every gate and guard."""

from __future__ import annotations

from typing import Any

import pytest

from mediasync.ledger import open_ledger
from mediasync.model import Stage
from mediasync.settings import Settings
from tests.fakes.icloud_server import FakeICloud
from tests.fakes.webhook_server import WebhookServer
from tests.icloud.conftest import FILES, RECORDS

pytestmark = pytest.mark.usefixtures("prefect_api")


def run_flow(settings: Settings, **parameters: Any) -> Any:
    from flows.media_sync import media_sync

    return media_sync(config=str(settings.config_path), return_state=True, **parameters)


@pytest.mark.slow
def test_flow_downloads_archives_and_deletes_by_record(media_settings: Settings,
                                                      media_server: FakeICloud) -> None:
    state = run_flow(media_settings)
    assert state.is_completed(), state.message
    steps = state.result()["steps"]
    assert (steps[0]["done"], steps[0]["failed"]) == (FILES, 0)
    kept = ["P000"]  # the favourite
    operations = [op for r in media_server.requests("records/modify")
                  for op in r.body["operations"]]
    assert sorted(op["record"]["recordName"] for op in operations) == \
        [r for r in RECORDS if r not in kept]
    assert all(op["record"]["recordChangeTag"] == "1" for op in operations)
    ledger = open_ledger(media_settings.ledger.url, media_settings.base_dir)
    try:
        done = ledger.files_at([Stage.COMPLETED])
        assert len(done) == FILES
        assert sorted(m.source_id for m in done if m.source_deleted_at is None) == kept
    finally:
        ledger.close()

    again = run_flow(media_settings)
    assert again.is_completed(), again.message
    assert again.result()["steps"][0]["done"] == 0
    assert len(media_server.requests("records/modify")) == len(RECORDS) - len(kept)


def test_flow_halts_at_step_one_when_the_session_expired(media_settings: Settings,
                                                         media_server: FakeICloud) -> None:
    media_server.expire_sessions(421)
    with WebhookServer() as hook:
        config = media_settings.config_path
        assert config is not None
        config.write_text(config.read_text() + f'\n[notify]\nwebhook_url = "{hook.url}"\n')
        state = run_flow(media_settings)
    expected = "step 1 (download) failed: iCloud session expired: run `mediasync icloud login`"
    assert state.is_failed() and expected in state.message
    [alert] = hook.received
    assert (alert["kind"], alert["step"]) == ("icloud_session_expired", 1)
    assert alert["reason"] == "iCloud session expired: run `mediasync icloud login`"
    assert "mediasync icloud login" in alert["fix"]
    ledger = open_ledger(media_settings.ledger.url, media_settings.base_dir)
    try:
        assert ledger.counts_by_stage() == {}
    finally:
        ledger.close()
    assert media_server.downloads() == []
