"""What every fake service shares: an HTTP server on 127.0.0.1 at a free port, served
from a thread, started and stopped as a context manager."""

from __future__ import annotations

import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LocalHandler(BaseHTTPRequestHandler):
    """Keep-alive like the real services, quiet, and no Nagle: headers and body go out in
    two writes, which would otherwise stall every answer by the peer's delayed ACK."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    service: Any  # the LocalServer answering

    def log_message(self, format: str, *args: Any) -> None:
        return None


class Served:
    """A socket server answering from a thread of its own inside a `with` block."""

    def __init__(self, server: socketserver.BaseServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class LocalServer(Served):
    def __init__(self, handler: type[LocalHandler]) -> None:
        # each server gets its own handler class, which knows it as `service`
        bound = type(handler.__name__, (handler,), {"service": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        server.daemon_threads = True
        super().__init__(server)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"
