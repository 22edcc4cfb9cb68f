"""iCloud's failures translated at the edge, and the back-off for 503 and 429.

pyicloud raises its own exceptions (and requests' beneath them); everything past this
module sees mediasync errors only: AuthError for a rejected session (401, 421, 450),
RateLimited once 503/429 persist past the retries, SourceError otherwise. Messages are
built here from status codes, never from response bodies, which can carry identifiers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
from pyicloud.exceptions import (
    PyiCloud2FARequiredException,
    PyiCloud2SARequiredException,
    PyiCloudAPIResponseException,
    PyiCloudAuthRequiredException,
    PyiCloudConnectionException,
    PyiCloudException,
)

from mediasync.errors import AuthError, FileProblem, RateLimited, SourceError
from mediasync.settings import ICloudSettings
from mediasync.sources.icloud_session import EXPIRED

AUTH_STATUSES = frozenset({401, 421, 450})
THROTTLE_STATUSES = frozenset({429, 503})
GONE_STATUSES = frozenset({404, 410})

T = TypeVar("T")


class Throttled(Exception):
    """iCloud said 503 or 429; retried here, RateLimited once retries run out."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"iCloud answered {status}")
        self.status = status
        self.retry_after = retry_after


def check_status(status: int, headers: Any, what: str) -> None:
    """Raise for a response status that is not a success."""
    if status < 400:
        return
    if status in AUTH_STATUSES:
        raise AuthError(EXPIRED)
    if status in GONE_STATUSES:
        raise FileProblem(f"{what}: no longer on iCloud ({status})", subject=what)
    if status in THROTTLE_STATUSES:
        raise Throttled(status, _retry_after(headers))
    raise SourceError(f"iCloud answered {status} for {what}", subject=what)


@contextmanager
def pyicloud_errors(what: str) -> Iterator[None]:
    """Translate what pyicloud raises inside the block."""
    try:
        yield
    except (PyiCloud2FARequiredException, PyiCloud2SARequiredException,
            PyiCloudAuthRequiredException) as exc:
        raise AuthError(EXPIRED) from exc
    except PyiCloudConnectionException as exc:
        raise SourceError(f"iCloud cannot be reached ({what})", retryable=True) from exc
    except PyiCloudException as exc:
        # pyicloud wraps some answers (a 503 while the photo service starts, say) in
        # its own errors: the status is on the first response error down the chain
        response_error = _first_response_error(exc)
        status = _status(response_error) if response_error else None
        if status is not None:
            check_status(status, _headers(response_error), what)
        raise SourceError(f"iCloud refused {what}", subject=what) from exc
    except requests.RequestException as exc:
        raise SourceError(f"iCloud cannot be reached ({what})", retryable=True) from exc


def record_error(exc: BaseException) -> str | None:
    """The CloudKit per-record error code (CONFLICT, NOT_FOUND, ...) behind a rejected
    records/modify: pyicloud raises for it and keeps the payload on the cause."""
    payload = getattr(exc.__cause__, "payload", None)
    records = payload.get("records") if isinstance(payload, dict) else None
    for record in records or []:
        if isinstance(record, dict) and record.get("serverErrorCode"):
            return str(record["serverErrorCode"])
    return None


def _first_response_error(exc: BaseException) -> PyiCloudAPIResponseException | None:
    error: BaseException | None = exc
    while error is not None:
        if isinstance(error, PyiCloudAPIResponseException):
            return error
        error = error.__cause__ or error.__context__
    return None


def _status(exc: PyiCloudAPIResponseException) -> int | None:
    for candidate in (exc.code, getattr(_response(exc), "status_code", None)):
        if isinstance(candidate, int):
            return candidate
        if isinstance(candidate, str) and candidate.isdigit():
            return int(candidate)
    return None


def _response(exc: BaseException) -> requests.Response | None:
    # pyicloud keeps the response on its exception, or on the requests error beneath it
    for error in (exc, exc.__cause__):
        response = getattr(error, "response", None)
        if response is not None:
            return response
    return None


def _headers(exc: BaseException) -> Any:
    response = _response(exc)
    return response.headers if response is not None else {}


def _retry_after(headers: Any) -> float | None:
    try:
        value = float(headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None
    return max(value, 0.0)


class Backoff:
    """How long to wait after a 503/429, how often to try, and a count of them all
    (the deletion circuit breaker reads `throttled`)."""

    def __init__(self, settings: ICloudSettings, sleep: Callable[[float], None]) -> None:
        self.settings = settings
        self.sleep = sleep
        self.throttled = 0
        self._counting = threading.Lock()  # step 1 downloads in several threads

    def wait_seconds(self, exc: Throttled, attempt: int) -> float:
        """Retry-After when iCloud gives one, else exponential; both capped."""
        if exc.retry_after is not None:
            wanted = exc.retry_after
        else:
            wanted = self.settings.backoff_seconds * 2 ** (attempt - 1)
        return min(wanted, self.settings.max_backoff_seconds)

    def pause(self, exc: Throttled, attempt: int, what: str) -> None:
        """Wait before attempt `attempt + 1`, or give up with RateLimited."""
        self._count()
        if attempt > self.settings.retries:
            raise _gave_up(exc, what) from exc
        self.sleep(self.wait_seconds(exc, attempt))

    def call(self, what: str, action: Callable[[], T]) -> T:
        """Run `action`, retrying it on Throttled; RateLimited when retries run out."""
        attempt = 0
        while True:
            try:
                return action()
            except Throttled as exc:
                attempt += 1
                self.pause(exc, attempt, what)

    def _count(self) -> None:
        """The deletion circuit breaker reads this count: none may be lost."""
        with self._counting:
            self.throttled += 1


def _gave_up(exc: Throttled, what: str) -> RateLimited:
    return RateLimited(f"iCloud keeps answering {exc.status} for {what}; try again later",
                       retry_after=exc.retry_after, subject=what)
