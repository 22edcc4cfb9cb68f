"""A TCP relay in front of sshd that can break a connection part way through what the
server sends, as a network cut does mid-transfer. The cut comes after a count of bytes,
not after a time, so a test knows it falls inside the body it is reading."""

from __future__ import annotations

import selectors
import socket
import socketserver
import threading

from tests.fakes.local_server import Served


class _Relayed(socketserver.BaseRequestHandler):
    server: _RelayServer

    def handle(self) -> None:
        client: socket.socket = self.request
        with socket.create_connection(("127.0.0.1", self.server.target)) as upstream, \
                selectors.DefaultSelector() as selector:
            for end in (client, upstream):  # no Nagle: SSH's small packets go at once
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while True:
                for key, _ in selector.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.fileobj is upstream:
                        passed = self.server.allow(len(data))
                        if passed < len(data):
                            client.sendall(data[:passed])
                            client.shutdown(socket.SHUT_RDWR)
                            return
                    key.data.sendall(data)


class _RelayServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, target: int) -> None:
        super().__init__(("127.0.0.1", 0), _Relayed)
        self.target = target
        self.lock = threading.Lock()
        self.budget: int | None = None  # bytes towards the client before the cut
        self.cuts = 0

    def allow(self, count: int) -> int:
        """How many of `count` bytes pass before the cut (all of them when none is due)."""
        with self.lock:
            if self.budget is None or count <= self.budget:
                if self.budget is not None:
                    self.budget -= count
                return count
            passed, self.budget = self.budget, None
            self.cuts += 1
            return passed


class Relay(Served):
    """`with Relay(sshd.port) as relay:`; clients connect to `relay.port`."""

    def __init__(self, target: int) -> None:
        self._relay = _RelayServer(target)
        super().__init__(self._relay)

    @property
    def port(self) -> int:
        return self._relay.server_address[1]

    @property
    def cuts(self) -> int:
        with self._relay.lock:
            return self._relay.cuts

    def cut_after(self, count: int) -> None:
        """The connection carrying the next `count` bytes from the server breaks there."""
        with self._relay.lock:
            self._relay.budget = count
