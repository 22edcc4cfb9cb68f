"""Which names a scan or the watcher never records: hidden, temporary and system files."""

from __future__ import annotations

from mediasync.files import PARTIAL_SUFFIX

IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", "$RECYCLE.BIN", "lost+found"})
_SUFFIXES = ("~", ".tmp", ".swp", ".bak", PARTIAL_SUFFIX)
# both cases spelled out: lower() on every name costs a tenth of a scan
IGNORED_SUFFIXES = _SUFFIXES + tuple(s.upper() for s in _SUFFIXES)


def ignored_name(name: str) -> bool:
    """True for a file or folder name that is never recorded (nor walked into). Hidden
    names cover `.DS_Store`, Syncthing's `.stfolder` and our own partial downloads."""
    return name[0] == "." or name.endswith(IGNORED_SUFFIXES) or name in IGNORED_NAMES


def ignored_rel_path(rel_path: str) -> bool:
    """True when any part of a root-relative path (posix separators) is ignored."""
    return any(ignored_name(part) for part in rel_path.split("/"))
