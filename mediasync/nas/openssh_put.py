"""File uploads through OpenSSH's own `sftp` program.

asyncssh spends about twice the CPU per byte that OpenSSH's client does (its packets are
assembled and copied in Python), so on a small computer the built-in client, not the
network, limits the archive's speed. Here each lane is one long-running `sftp -b -`
process (one SSH connection) fed one `put` at a time. Batch mode echoes each command
before running it; `version` after each put answers with one fixed line, which marks
the put's end. Whatever else the process prints in between is its complaint about the
put. Nothing here decides whether a put worked: the caller hashes the written file.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path

from mediasync.ssh import CIPHERS, SshLink

PROGRAM = "sftp"
MARKER = b"SFTP protocol version"
ECHO = b"sftp> "


class LaneLost(ConnectionError):
    """The sftp process ended: its connection dropped or it never got one."""


def why_not_usable(key_has_passphrase: bool) -> str | None:
    """What keeps OpenSSH's sftp from running for an endpoint, before trying to connect."""
    if shutil.which(PROGRAM) is None:
        return "no sftp program on PATH (package openssh-client)"
    if key_has_passphrase:
        return "OpenSSH's sftp would ask for the key's passphrase"
    return None


def fits_a_line(*paths: str) -> bool:
    """Whether each path can be one argument of a batch command."""
    return not any("\n" in path or "\r" in path for path in paths)


def quoted(path: str) -> str:
    """One argument of an sftp batch command: double quotes keep spaces and stop glob
    characters; a backslash escapes the two characters that would end the quoting."""
    if not fits_a_line(path):
        raise ValueError("a batch command is one line")
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _option_path(path: Path) -> str:
    """A file for an ssh option: quoted (whitespace separates files) with ssh's `%`
    tokens escaped."""
    return quoted(str(path).replace("%", "%%"))


def command_line(link: SshLink) -> list[str]:
    """The same server, user, key and known_hosts as the built-in client, and no user
    ssh configuration (asyncssh reads none either)."""
    endpoint = link.endpoint
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    options = {"BatchMode": "yes", "StrictHostKeyChecking": "yes",
               "UserKnownHostsFile": _option_path(link.known_hosts),
               "GlobalKnownHostsFile": "/dev/null",
               "ConnectTimeout": str(max(1, round(endpoint.connect_timeout_seconds))),
               "User": link.user, "Ciphers": ",".join(CIPHERS),
               # a connection that goes silent ends the process (a retry) instead of a
               # put that waits forever
               "ServerAliveInterval": "15", "ServerAliveCountMax": "3"}
    if link.key_file is not None:  # exactly this key, nothing from the agent
        options.update(IdentityFile=_option_path(link.key_file), IdentitiesOnly="yes",
                       IdentityAgent="none")
    argv = [PROGRAM, "-b", "-", "-F", "none", "-P", str(endpoint.port)]
    for name, value in options.items():
        argv += ["-o", f"{name}={value}"]
    return [*argv, host]


class _Lane:
    def __init__(self, argv: list[str]) -> None:
        # stderr joins stdout: a complaint arrives in order, before the command's marker.
        # A session of its own: Ctrl-C in a terminal reaches mediasync, which ends the
        # lanes, and never cuts a put short behind its back.
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._input, self._output = self.process.stdin, self.process.stdout

    def put(self, local: Path, remote: str) -> list[str]:
        """Upload, fsynced on the server where it can; returns what sftp said about it."""
        return self.run(f"-put -f {quoted(os.path.abspath(local))} {quoted(remote)}\n")

    def ready(self) -> None:
        self.run("")

    def run(self, command: str) -> list[str]:
        """Run batch commands (each line ending in a newline); what sftp said meanwhile."""
        said: list[str] = []
        try:
            self._input.write(os.fsencode(command + "version\n"))
            self._input.flush()
        except BrokenPipeError:
            pass  # it has ended: what it printed before says why
        while not (line := self._output.readline()).startswith(MARKER):
            if not line:
                self.close()
                raise LaneLost(f"OpenSSH sftp: {'; '.join(said[-3:]) or 'ended'}")
            if not line.startswith(ECHO):
                said.append(os.fsdecode(line).strip())
        return said

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """For a lane with no put under way."""
        self.process.kill()
        self.close()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._input.close()  # the batch ends: sftp exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._output.close()


class SftpLanes:
    """Up to `lanes` sftp processes shared by threads, opened by `start`."""

    def __init__(self, argv: list[str], lanes: int) -> None:
        self.argv = argv
        self.size = lanes
        self._idle: queue.SimpleQueue[_Lane] = queue.SimpleQueue()
        self._room = threading.BoundedSemaphore(lanes)
        self._all: set[_Lane] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Open every lane now, at once, and keep those that answer: a server may allow a
        user fewer connections, and that should mean fewer lanes, not failed puts later.
        LaneLost, with OpenSSH's reason, when none answers."""
        refusal = LaneLost("OpenSSH sftp: no lane")
        opened = 0
        for lane in [self._new_lane() for _ in range(self.size)]:
            try:
                lane.ready()
            except LaneLost as exc:
                self._forget(lane)
                refusal = exc
                continue
            self._idle.put(lane)
            opened += 1
        if opened == 0:
            raise refusal
        self.size = opened
        self._room = threading.BoundedSemaphore(opened)

    def put(self, local: Path, remote: str) -> list[str]:
        """Blocks until a lane is free and the put is done. LaneLost when its process
        ended; the next put starts a fresh one in its place."""
        with self._room:
            lane = self._take()
            try:
                said = lane.put(local, remote)
            except LaneLost:
                self._forget(lane)
                # what dropped one connection usually dropped the others: the retry
                # should meet a fresh lane, not the next dead one
                self._drop_idle()
                raise
            self._idle.put(lane)
            return said

    def _take(self) -> _Lane:
        while True:
            try:
                lane = self._idle.get_nowait()
            except queue.Empty:
                return self._new_lane()
            if lane.alive:
                return lane
            self._forget(lane)

    def _drop_idle(self) -> None:
        while True:
            try:
                lane = self._idle.get_nowait()
            except queue.Empty:
                return
            self._forget(lane)
            lane.kill()

    def _new_lane(self) -> _Lane:
        lane = _Lane(self.argv)
        with self._lock:
            self._all.add(lane)
        return lane

    def _forget(self, lane: _Lane) -> None:
        with self._lock:
            self._all.discard(lane)

    def close(self) -> None:
        with self._lock:
            lanes, self._all = self._all, set()
        for lane in lanes:
            lane.close()
        while not self._idle.empty():
            self._idle.get_nowait()
