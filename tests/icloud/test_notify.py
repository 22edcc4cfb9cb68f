"""The notification a halted run sends."""

from __future__ import annotations

import pytest

from mediasync.notify import notify
from mediasync.settings import Settings
from tests.fakes.webhook_server import WebhookServer


def test_sends_the_text() -> None:
    with WebhookServer() as hook:
        assert notify(Settings(notify={"webhook_url": hook.url}), "step 1 failed")
    assert hook.received == [{"text": "mediasync: step 1 failed"}]


def test_nothing_without_a_webhook() -> None:
    assert not notify(Settings(), "step 1 failed")


def test_a_refusing_webhook_never_fails_the_run_nor_leaks_its_url(
        caplog: pytest.LogCaptureFixture) -> None:
    with WebhookServer(status=500) as hook:
        assert not notify(Settings(notify={"webhook_url": hook.url}), "step 1 failed")
    assert "the webhook answered 500" in caplog.text
    assert "s3cret-token" not in caplog.text


def test_an_unreachable_webhook_never_fails_the_run_nor_leaks_its_url(
        caplog: pytest.LogCaptureFixture) -> None:
    url = "http://127.0.0.1:1/hooks/s3cret-token"  # nothing listens on port 1
    assert not notify(Settings(notify={"webhook_url": url}), "step 1 failed")
    assert "notification not sent: ConnectError" in caplog.text
    assert "s3cret-token" not in caplog.text
