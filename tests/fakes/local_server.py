"""What every fake service shares: an HTTP server on 127.0.0.1 at a free port, served
from a thread, started and stopped as a context manager."""

from __future__ import annotations

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


class LocalServer:
    def __init__(self, handler: type[LocalHandler]) -> None:
        # each server gets its own handler class, which knows it as `service`
        bound = type(handler.__name__, (handler,), {"service": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
