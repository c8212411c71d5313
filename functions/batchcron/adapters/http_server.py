"""HTTP serving on 127.0.0.1: the standard library's threading server in its own thread,
stopped and closed cleanly. Local mode's webhook and Slack sink and the status page
(`batchcron ui`) all run on it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 in its own thread, stopped and closed cleanly."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
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
