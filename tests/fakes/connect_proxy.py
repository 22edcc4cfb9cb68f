"""An HTTP proxy on 127.0.0.1 that tunnels HTTPS with CONNECT, as corporate proxies do,
and records each tunnel asked for with the Proxy-Authorization it came with."""

from __future__ import annotations

import selectors
import socket
import socketserver
import threading

from tests.fakes.local_server import Served


class _Tunnel(socketserver.StreamRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        method, target, _ = self.rfile.readline().decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := self.rfile.readline().decode("latin-1").strip()):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        with self.server.lock:
            self.server.tunnels.append((target, headers.get("proxy-authorization")))
        host, _, port = target.rpartition(":")
        with socket.create_connection((host, int(port))) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            _pipe(self.connection, upstream)


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while True:
            for key, _ in selector.select():
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    tunnels: list[tuple[str, str | None]]
    lock: threading.Lock


class ConnectProxy(Served):
    """`with ConnectProxy() as proxy:`; `proxy.port` is where it listens, `proxy.tunnels`
    the (host:port, Proxy-Authorization) of each CONNECT."""

    def __init__(self) -> None:
        server = _ProxyServer(("127.0.0.1", 0), _Tunnel)
        server.tunnels, server.lock = [], threading.Lock()
        super().__init__(server)
        self._proxy = server

    @property
    def port(self) -> int:
        return self._proxy.server_address[1]

    @property
    def tunnels(self) -> list[tuple[str, str | None]]:
        with self._proxy.lock:
            return list(self._proxy.tunnels)
