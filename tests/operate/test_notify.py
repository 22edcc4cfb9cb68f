"""Alerts reach the webhook as JSON, carry the fix, and never carry a secret."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from mediasync import notify
from mediasync.errors import LedgerBusy
from mediasync.pipeline.remedies import fix_for_step
from mediasync.settings import Settings
from tests.fakes.webhook_server import WebhookServer

TOKEN = "s3cret-token"  # the last part of WebhookServer.url
API_KEY = "syncthing-api-key-77c1"


def settings_for(url: str | None) -> Settings:
    return Settings(notify={"webhook_url": url}, syncthing={"api_key": API_KEY})


def test_an_alert_is_one_json_post_with_reason_and_fix():
    with WebhookServer() as hook:
        sent = notify.send(notify.ICLOUD_SESSION_EXPIRING,
                           "the iCloud session expires in 3 days",
                           "run `mediasync icloud login`", settings=settings_for(hook.url),
                           details={"expires_at": "2026-12-01"})
    assert sent
    [body] = hook.received
    assert body["kind"] == "icloud_session_expiring"
    assert body["message"] == "the iCloud session expires in 3 days"
    assert body["fix"] == "run `mediasync icloud login`"
    assert body["expires_at"] == "2026-12-01"
    assert "fix: run `mediasync icloud login`" in body["text"]


def test_secrets_are_blanked_from_the_payload():
    with WebhookServer() as hook:
        notify.send(notify.RUN_FAILED, f"Syncthing refused key {API_KEY} at {hook.url}",
                    "check it", settings=settings_for(hook.url),
                    details={"reason": [f"key={API_KEY}"]})
    [body] = hook.received
    assert API_KEY not in json.dumps(body) and TOKEN not in json.dumps(body)
    assert body["reason"] == ["key=***"]


def test_the_webhook_url_never_reaches_a_log(caplog):
    caplog.set_level(logging.DEBUG)
    with WebhookServer() as hook:
        notify.send(notify.RUN_FAILED, "step 4 failed", "mount the NAS",
                    settings=settings_for(hook.url))
    assert any("HTTP Request" in r.getMessage() for r in caplog.records), "httpx logged nothing"
    assert TOKEN not in caplog.text
    assert "<notify.webhook_url>" in caplog.text


def test_a_refused_alert_is_logged_without_the_url_and_does_not_raise(caplog):
    with WebhookServer(status=500) as hook:
        sent = notify.send(notify.RUN_FAILED, "step 4 failed", "mount the NAS",
                           settings=settings_for(hook.url))
    assert not sent
    assert "notify.webhook_url answered HTTP 500" in caplog.text
    assert TOKEN not in caplog.text


def test_an_unreachable_webhook_does_not_raise(caplog):
    url = f"http://127.0.0.1:1/hooks/{TOKEN}"  # nothing listens on port 1
    assert not notify.send(notify.RUN_FAILED, "x", "y", settings=settings_for(url))
    assert "ConnectError reaching notify.webhook_url" in caplog.text
    assert TOKEN not in caplog.text


def test_without_a_webhook_the_alert_is_only_logged(caplog):
    for unset in (None, ""):
        assert not notify.send(notify.RUN_FAILED, "step 4 failed", "mount the NAS",
                               settings=settings_for(unset))
    assert "run_failed: step 4 failed (fix: mount the NAS)" in caplog.text


def test_each_step_has_its_own_fix_and_says_where_to_restart():
    fixes = {fix_for_step(step) for step in range(1, 9)}
    assert len(fixes) == 8
    assert "NAS is mounted" in fix_for_step(4)
    assert "`mediasync run --start 4`" in fix_for_step(4)
    assert "mediasync config check" in fix_for_step(None)


def test_a_run_refused_by_a_holder_of_many_hours_alerts_that_it_may_hang():
    busy = LedgerBusy("another media-sync run (r1) holds the ledger since …",
                      held_since=datetime(2026, 11, 21, 2, 0, tzinfo=UTC))
    with WebhookServer() as hook:
        settings = settings_for(hook.url)
        assert not notify.alert_if_stuck(busy, settings, now=datetime(2026, 11, 21, 7, 0,
                                                                      tzinfo=UTC))
        assert notify.alert_if_stuck(busy, settings, now=datetime(2026, 11, 21, 9, 0,
                                                                  tzinfo=UTC))
        assert not notify.alert_if_stuck(LedgerBusy("no holder record"), settings)
    [body] = hook.received
    assert body["kind"] == "run_stuck" and body["hours"] == 7.0
    assert "(r1)" in body["message"] and "cancel it" in body["fix"]
