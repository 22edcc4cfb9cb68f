"""Times read from object paths, e.g. `{device}/{YYYY}/{MM}/{DD}/{HH}{mm}{ss}`.

`{YYYY}` is four digits, `{MM}` `{DD}` `{HH}` `{mm}` `{ss}` two; any other `{name}` is one
path segment or part of one. The pattern matches the end of the key (leading folders are
free) and an extension may follow. A key that does not match, or names an impossible
date, has no time: callers report it, they never guess.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mediasync.errors import ConfigError

_FIELDS = {"YYYY": r"\d{4}", "MM": r"\d{2}", "DD": r"\d{2}",
           "HH": r"\d{2}", "mm": r"\d{2}", "ss": r"\d{2}"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class PathPattern:
    def __init__(self, pattern: str, timezone: str = "UTC") -> None:
        self.pattern = pattern
        self._regex = re.compile(r"(?:.*/)?" + _body(pattern) + r"(?:\.[^/]*)?")
        try:
            self._tz: tzinfo = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone: {timezone}") from None

    def time_of(self, key: str) -> datetime | None:
        match = self._regex.fullmatch(key)
        if match is None:
            return None
        parts = {name: int(value) for name, value in match.groupdict().items()
                 if name in _FIELDS}
        try:
            return datetime(parts["YYYY"], parts["MM"], parts["DD"], parts.get("HH", 0),
                            parts.get("mm", 0), parts.get("ss", 0), tzinfo=self._tz)
        except ValueError:
            return None


def _body(pattern: str) -> str:
    out, seen, pos = [], set(), 0
    for match in _PLACEHOLDER.finditer(pattern):
        out.append(re.escape(pattern[pos:match.start()]))
        name = match.group(1)
        if name in seen:
            raise ConfigError(f"path pattern {pattern!r} names {{{name}}} twice")
        seen.add(name)
        out.append(f"(?P<{name}>{_FIELDS.get(name, r'[^/]+?')})")
        pos = match.end()
    out.append(re.escape(pattern[pos:]))
    return "".join(out)
