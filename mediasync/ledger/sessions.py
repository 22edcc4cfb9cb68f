"""Who holds a claim, so that a claim dies with its holder.

A worker killed in the middle of a step must not keep its files from the rerun. Each
claim records the session that took it; a claim whose session is gone is free again at
once, whatever its lease. On SQLite (one machine) the session is the process; on
Postgres it is a connection the ledger keeps open (see postgres.py).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_ticks(pid: int) -> str | None:
    """When the process started (Linux), so that a reused pid is not mistaken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_session() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or ''}"


def process_alive(session: str) -> bool:
    """False only when `session` is surely gone: a process of this machine that ended.
    Another machine's process cannot be seen from here: its claims end by lease."""
    host, pid_text, ticks = (session.split(":") + ["", ""])[:3]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not ticks or _start_ticks(pid) in (ticks, None)
