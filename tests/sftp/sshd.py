"""A real OpenSSH server on a free loopback port, with throwaway host and user keys.

It serves the current user over internal-sftp (and allows commands, like most NAS), with
its own sshd_config: no PAM, no passwords, keys from our own authorized_keys file.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
READY_SECONDS = 10


@dataclass
class Sshd:
    home: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def host_key(self) -> Path:
        return self.home / "host_ed25519"

    @property
    def user_key(self) -> Path:
        return self.home / "user_ed25519"

    @property
    def wrong_key(self) -> Path:
        return self.home / "wrong_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.home / "known_hosts"

    @property
    def user(self) -> str:
        return getpass.getuser()

    def host_fingerprint(self) -> str:
        out = subprocess.run(["ssh-keygen", "-lf", str(self.host_key)], check=True,
                             capture_output=True, text=True).stdout
        return out.split()[1]

    def sessions(self) -> list[int]:
        """Pids of the per-connection server processes (children of the listener)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                             text=True).stdout
        return [int(pid) for pid in out.split()]

    def drop_connections(self) -> int:
        """Kill every live session, as a network cut would: the client sees EOF."""
        pids = self.sessions()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name,
                    "-f", str(path)], check=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(home: Path, port: int, extra: str) -> str:
    return f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {home / 'host_ed25519'}
PidFile {home / 'sshd.pid'}
AuthorizedKeysFile {home / 'authorized_keys'}
AllowUsers {getpass.getuser()}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 64
MaxStartups 64
LogLevel ERROR
Subsystem sftp internal-sftp
{extra}"""


def _ready(port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                if conn.recv(64).startswith(b"SSH-2.0"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def start_sshd(home: Path, extra_config: str = "") -> Sshd:
    """`extra_config`: more sshd_config lines, e.g. SetEnv for the sessions."""
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        raise RuntimeError("openssh-server is not installed (scripts/test.sh installs it)")
    home.mkdir(parents=True, exist_ok=True)
    for key in ("host_ed25519", "user_ed25519", "wrong_ed25519"):
        _keygen(home / key)
    shutil.copy(home / "user_ed25519.pub", home / "authorized_keys")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
    for _ in range(5):  # a free port can be taken between the probe and the bind
        port = _free_port()
        (home / "sshd_config").write_text(_config(home, port, extra_config))
        log = open(home / "sshd.log", "ab")  # noqa: SIM115 - the server owns it
        process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(home / "sshd_config")],
                                   stdout=log, stderr=log)
        log.close()
        if _ready(port, process):
            host_pub = (home / "host_ed25519.pub").read_text().split()
            (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
            return Sshd(home, port, process)
        process.kill()
        process.wait()
    raise RuntimeError(f"sshd did not start: {(home / 'sshd.log').read_text()[-500:]}")
