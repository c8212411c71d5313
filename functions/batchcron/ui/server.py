"""The status page on HTTP: a request handler for the standard library's threading server (the
one local mode runs), used by `batchcron ui` and by local mode's webhook port."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

from batchcron.adapters.http_server import Server
from batchcron.ui.app import MAX_FORM, Request, Response, StatusPage


def respond(page: StatusPage, handler: BaseHTTPRequestHandler) -> None:
    """Answer the request `handler` holds with the page's response."""
    length = int(handler.headers.get("Content-Length") or 0)
    if length > MAX_FORM:
        reply(handler, Response(413, b"request too large", "text/plain; charset=utf-8"))
        return
    body = handler.rfile.read(length) if length else b""
    request = Request.from_target(handler.command, handler.path, dict(handler.headers), body)
    response = page.handle(request)
    if "gzip" in (handler.headers.get("Accept-Encoding") or ""):
        response = compressed(response)
    reply(handler, response, head=handler.command == "HEAD")


COMPRESS_AT = 1024  # bytes: smaller bodies are not worth it


def compressed(response: Response) -> Response:
    """The response gzipped (the grid's HTML is mostly the same few hundred bytes a cell, and
    shrinks about twentyfold), when it is text and large enough."""
    import gzip

    kind = response.content_type
    if len(response.body) < COMPRESS_AT or not kind.startswith(("text/", "application/json")):
        return response
    headers = {**response.headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
    body = gzip.compress(response.body, compresslevel=5, mtime=0)
    return Response(response.status, body, kind, headers)


class Served:
    """`page` as a request handler for a server of someone else's: local mode's webhook port
    serves the page beside the webhook. Its `port` is the page's (for the Host check)."""

    def __init__(self, page: StatusPage) -> None:
        self.page = page

    @property
    def port(self) -> int | None:
        return self.page.port

    @port.setter
    def port(self, value: int | None) -> None:
        self.page.port = value

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        respond(self.page, handler)


def reply(handler: BaseHTTPRequestHandler, response: Response, *, head: bool = False) -> None:
    handler.send_response(response.status)
    for key, value in response.all_headers().items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(response.body)))
    handler.end_headers()
    if not head:
        handler.wfile.write(response.body)


def serve(page: StatusPage, port: int) -> Server:
    """The page alone on 127.0.0.1:`port` (0: any free port), started; its port is set."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "batchcron-ui"
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as local mode's servers: no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _handle(self) -> None:
            respond(page, self)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    server = Server(Handler, port)
    page.port = server.port
    server.start()
    return server
