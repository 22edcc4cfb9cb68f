"""Postgres connections for the ledger: URLs without their password, one-line errors."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import psycopg

from mediasync.errors import LedgerError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# Advisory lock keys, one per database and per purpose: a run holds RUN_LOCK_KEY on one
# connection for its whole length while its ledger migrates on another connection under
# MIGRATION_LOCK_KEY, so the two must differ (one key made a run wait for itself).
RUN_LOCK_KEY = 0x6D656469  # "medi"
MIGRATION_LOCK_KEY = 0x6D696772  # "migr"
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL as it may be shown: any password replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return _PASSWORD_PARAM.sub(r"\1***", urlunsplit(parts._replace(netloc=netloc)))


def password_of(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    found = re.search(r"password=([^&\s]+)", url, re.IGNORECASE)
    return found.group(1) if found else None


def ledger_error(exc: psycopg.Error, url: str) -> LedgerError:
    """One line naming the ledger and what went wrong; a lost or refused connection is
    retryable (the server may be back on the next attempt)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    message = lines[0] if lines else type(exc).__name__
    secret = password_of(url)
    if secret:
        message = message.replace(secret, "***")
    return LedgerError(f"ledger {redact(url)}: {message}",
                       retryable=isinstance(exc, psycopg.OperationalError))


def connect(url: str, timeout: float) -> psycopg.Connection:
    try:
        return psycopg.connect(url, connect_timeout=max(1, round(timeout)))
    except psycopg.Error as exc:
        error = ledger_error(exc, url)
        raise type(error)(f"{error} (is the database server up? check ledger.url)",
                          retryable=error.retryable) from None
