"""HTTP serving on 127.0.0.1: the standard library's threading server in its own thread,
stopped and closed cleanly. Local mode's webhook and Slack sink and the status page
(`batchcron ui`) all run on it."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Quiet(ThreadingHTTPServer):
    """A client that goes away mid-answer (a browser leaving a page while it refreshes) is
    normal, not a traceback on the console; any other error still prints."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 in its own thread, stopped and closed cleanly."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int) -> None:
        self.httpd = _Quiet(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()
