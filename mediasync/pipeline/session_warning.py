"""Step 1's early word about a stored sign-in that is about to end: until it does, runs
go on as usual; after, every run halts at step 1 until someone signs in again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mediasync import notify
from mediasync.pipeline.context import RunContext
from mediasync.sources.base import ExpiringSession


def warn_if_session_ends_soon(ctx: RunContext, now: datetime | None = None) -> bool:
    """Alert when the source's session ends within its warning window; True if it does."""
    source = ctx.source
    if not isinstance(source, ExpiringSession) or not source.warn_days_before_expiry:
        return False
    expires = source.session_expires()
    if expires is None:
        return False
    left = expires - (now or datetime.now(UTC))
    if left > timedelta(days=source.warn_days_before_expiry):
        return False
    days = max(0, left.days)
    notify.send(notify.ICLOUD_SESSION_EXPIRING,
                f"{source.name}: the stored session ends in about {days} days"
                f" ({expires:%Y-%m-%d %H:%M} UTC); runs halt at step 1 after that",
                "run `mediasync icloud login` before then", settings=ctx.settings,
                details={"source": source.name, "expires_at": expires.isoformat()})
    return True
