"""Open the ledger a URL names."""

from __future__ import annotations

from pathlib import Path

from mediasync.errors import ConfigError
from mediasync.ledger.base import Ledger

SQLITE_PREFIX = "sqlite:///"


def open_ledger(url: str, base_dir: Path, read_only: bool = False) -> Ledger:
    """`sqlite:///relative.db` (relative to the config's folder), `sqlite:////abs.db`,
    `sqlite:///:memory:`."""
    if url.startswith(SQLITE_PREFIX):
        from mediasync.ledger.sqlite import SqliteLedger

        rest = url[len(SQLITE_PREFIX):]
        if rest == ":memory:":
            return SqliteLedger(None)
        path = Path(rest)
        return SqliteLedger(path if path.is_absolute() else base_dir / path, read_only)
    scheme = url.split(":", 1)[0] or url
    raise ConfigError(f"ledger.url: unsupported ledger '{scheme}' (use sqlite:///PATH)")
