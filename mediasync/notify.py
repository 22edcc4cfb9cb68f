"""Tell a person when a run halts: a JSON POST to `notify.webhook_url` (Slack, Discord,
ntfy and most chat tools accept `{"text": ...}`).

A notification that cannot be sent never fails the run: it is logged, without the URL,
which carries the webhook's secret.
"""

from __future__ import annotations

import logging

import httpx

from mediasync.settings import Settings

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0


def notify(settings: Settings, text: str) -> bool:
    """Send `text`; True when the webhook accepted it, False when none is set or it failed."""
    url = settings.notify.webhook_url
    if url is None:
        return False
    try:
        response = httpx.post(url.get_secret_value(), json={"text": f"mediasync: {text}"},
                              timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        log.warning("notification not sent: %s", type(exc).__name__)
        return False
    if response.is_error:
        log.warning("notification not sent: the webhook answered %d", response.status_code)
        return False
    return True
