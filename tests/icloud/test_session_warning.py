"""Step 1 warns through the webhook before the stored iCloud session ends."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr

from mediasync import notify
from mediasync.pipeline import download
from mediasync.pipeline.steps import open_context
from mediasync.settings import Settings
from tests.fakes.icloud_server import FakeICloud
from tests.fakes.webhook_server import WebhookServer
from tests.icloud.conftest import sign_in


def run_step1_with_webhook(settings: Settings, server: FakeICloud, cookie_days: int,
                           **icloud: object) -> list[dict]:
    server.state.cookie_days = cookie_days
    sign_in(settings, server)
    with WebhookServer() as hook:
        configured = settings.model_copy(update={
            "source": settings.source.model_copy(update={"kind": "icloud"}),
            "icloud": settings.icloud.model_copy(update=icloud),
            "notify": settings.notify.model_copy(update={"webhook_url": SecretStr(hook.url)})})
        ctx = open_context(configured, "run-1", limit=1)
        try:
            assert download.run(ctx).done == 1  # the run itself goes on
        finally:
            ctx.ledger.close()
    return [body for body in hook.received if body["kind"] == notify.ICLOUD_SESSION_EXPIRING]


def test_a_session_ending_within_the_window_is_announced(settings: Settings,
                                                         server: FakeICloud) -> None:
    [alert] = run_step1_with_webhook(settings, server, cookie_days=3)
    assert re.search(r"ends in about [23] days", alert["message"]), alert["message"]
    assert alert["fix"] == "run `mediasync icloud login` before then"
    assert alert["source"].startswith("icloud:") and alert["expires_at"]


@pytest.mark.parametrize(("cookie_days", "warn_days"), [(60, 7), (3, 0)])
def test_no_word_outside_the_window_or_when_turned_off(settings: Settings, server: FakeICloud,
                                                       cookie_days: int,
                                                       warn_days: float) -> None:
    assert run_step1_with_webhook(settings, server, cookie_days,
                                  warn_days_before_expiry=warn_days) == []
