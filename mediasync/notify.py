"""Alerts: a JSON POST to `notify.webhook_url` when something needs a person.

Every alert carries what happened and what to do about it (`fix`). Nothing secret goes
out: every secret of the settings is blanked from the payload, and the webhook URL, which
usually carries a token itself, never reaches a log (not even httpx's request log).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr

from mediasync.errors import LedgerBusy
from mediasync.settings import Settings

log = logging.getLogger("mediasync.notify")

RUN_FAILED = "run_failed"
RUN_STUCK = "run_stuck"
ICLOUD_SESSION_EXPIRING = "icloud_session_expiring"
ICLOUD_SESSION_EXPIRED = "icloud_session_expired"
BLANK = "***"


class _HideWebhookUrls(logging.Filter):
    """httpx logs every request's URL at INFO: show the webhook's as a placeholder."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple("<notify.webhook_url>" if str(arg) in self.urls else arg
                                for arg in record.args)
        return True


_hide_urls = _HideWebhookUrls()
logging.getLogger("httpx").addFilter(_hide_urls)


def send(kind: str, message: str, fix: str, *, settings: Settings,
         details: dict[str, Any] | None = None) -> bool:
    """Post one alert; True when the webhook accepted it. Never raises: an alert that
    cannot be delivered is logged (without the URL) and the caller goes on."""
    payload = _scrub(build_payload(kind, message, fix, details or {}), _secrets(settings))
    log.warning("%s: %s (fix: %s)", kind, payload["message"], payload["fix"])
    target = settings.notify.webhook_url
    if target is None or not target.get_secret_value():
        log.info("no notify.webhook_url configured: alert not sent")
        return False
    return _post(target, payload, settings.notify.timeout_seconds)


def alert_if_stuck(busy: LedgerBusy, settings: Settings, now: datetime | None = None) -> bool:
    """A refused run says nothing, unless the holder has had the ledger so long that it
    may hang: then every run it keeps out alerts."""
    if busy.held_since is None:
        return False
    hours = ((now or datetime.now(UTC)) - busy.held_since).total_seconds() / 3600
    if hours < settings.notify.stuck_after_hours:
        return False
    return send(RUN_STUCK, f"{busy}: {hours:.0f} hours, and new runs give way to it",
                "find that run in the Prefect UI; if it hangs, cancel it or stop its "
                "process: the lock goes with it", settings=settings,
                details={"held_since": busy.held_since.isoformat(), "hours": round(hours, 1)})


def build_payload(kind: str, message: str, fix: str, details: dict[str, Any]) -> dict[str, Any]:
    # `text` makes the same body readable by chat webhooks that show only that field
    return {"kind": kind, "message": message, "fix": fix, **details,
            "host": socket.gethostname(),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "text": f"mediasync {kind}: {message}\nfix: {fix}"}


def _post(target: SecretStr, payload: dict[str, Any], timeout: float) -> bool:
    url = target.get_secret_value()
    _hide_urls.urls.add(str(httpx.URL(url)))
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:  # its text may hold the URL: name the kind only
        log.error("alert not delivered: %s reaching notify.webhook_url", type(exc).__name__)
        return False
    if response.is_error:
        log.error("alert not delivered: notify.webhook_url answered HTTP %d",
                  response.status_code)
        return False
    return True


def _secrets(model: BaseModel) -> set[str]:
    return {value for value in _secret_values(model) if len(value) >= 4}


def _secret_values(model: BaseModel) -> Iterator[str]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secret_values(value)


def _scrub(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, BLANK)
        return value
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, secrets) for item in value]
    return value
