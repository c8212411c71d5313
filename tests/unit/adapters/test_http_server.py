"""The shared HTTP server: a client that leaves mid-answer prints nothing; other errors do."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler

import pytest

from batchcron.adapters.http_server import Server


def serve(error: type[Exception]) -> Server:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            raise error("boom")

    server = Server(Handler, 0)
    server.start()
    return server


@pytest.mark.parametrize(("error", "printed"), [(BrokenPipeError, False), (ValueError, True)])
def test_a_client_gone_mid_answer_is_no_traceback(
    error: type[Exception], printed: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(error)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            # The server reports the error before it closes the connection, so once recv
            # returns (the close) the report is written.
            client.recv(10)
    finally:
        server.stop()
    assert ("Traceback" in capsys.readouterr().err) is printed
