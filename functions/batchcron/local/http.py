"""Local HTTP servers: the webhook (requests -> Lambda Function URL events) and the Slack sink."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from batchcron.adapters.http_server import Server
from batchcron.models import utcnow

MAX_BODY = 6 * 1024 * 1024  # a Function URL's request payload limit
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")

Invoke = Callable[[dict[str, Any]], Any]


class _Quiet(BaseHTTPRequestHandler):
    server_version = "batchcron-local"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK hold the body back ~40 ms on every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"error": "request too large"})
            return None
        return self.rfile.read(length) if length else b""

    def _reply(
        self, status: int, body: Any, headers: dict[str, str] | None = None, raw: bool = False
    ) -> None:
        data = body if raw else json.dumps(body).encode("utf-8")
        self.send_response(status)
        for key, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def function_url_event(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """A Lambda Function URL (payload format 2.0) event for one HTTP request."""
    parts = urlsplit(target)
    lowered: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        lowered[name] = f"{lowered[name]},{value}" if name in lowered else value
    content_type = lowered.get("content-type", "")
    is_text = not body or content_type.startswith(TEXT_TYPES)
    try:
        text = body.decode("utf-8") if is_text else None
    except UnicodeDecodeError:
        text = None
    now = utcnow()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": text is None,
    }
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    if parts.query:
        from urllib.parse import parse_qsl

        event["queryStringParameters"] = dict(parse_qsl(parts.query, keep_blank_values=True))
    return event


Page = Callable[[BaseHTTPRequestHandler], None]  # answers one request (the status page)


def webhook_server(
    port: int, invoke: Invoke, on_error: Callable[[str], None], page: Page | None = None
) -> Server:
    """The webhook: each request becomes a Function URL event for the real handler. With `page`,
    the page answers everything but the webhook's own routes (`POST /github`, `POST /`)."""

    class Handler(_Quiet):
        def _handle(self) -> None:
            if page is not None and not is_webhook(self.command, self.path):
                page(self)
                return
            body = self._body()
            if body is None:
                return
            event = function_url_event(
                self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
            )
            try:
                response = invoke(event)
            except Exception as exc:  # what Lambda would answer for a crashed handler
                on_error(f"webhook handler raised {type(exc).__name__}: {exc}")
                self._reply(502, {"message": "Internal Server Error"})
                return
            status, headers, data = lambda_response(response)
            self._reply(status, data, headers, raw=True)

        do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _handle

    return Server(Handler, port)


def is_webhook(method: str, target: str) -> bool:
    """A request for the webhook handler (its routes, and anything under /github)."""
    path = urlsplit(target).path or "/"
    if method == "POST" and path == "/slack/actions":  # Slack app mode's button presses
        return True
    return path == "/github" or path.startswith("/github/") or (method == "POST" and path == "/")


def lambda_response(response: Any) -> tuple[int, dict[str, str], bytes]:
    """A Function URL handler's return value -> (status, headers, body bytes)."""
    if not isinstance(response, dict) or "statusCode" not in response:
        # Function URLs answer a bare value as 200 JSON.
        return 200, {"Content-Type": "application/json"}, json.dumps(response).encode("utf-8")
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[str(key)] = ",".join(str(v) for v in values)
    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(response["statusCode"]), headers, data


def slack_sink(
    on_message: Callable[[dict[str, Any]], None],
    on_call: Callable[[str, dict[str, Any]], None] | None = None,
) -> Server:
    """A stand-in for Slack: an incoming webhook (JSON posts handed to `on_message`) and, for
    Slack app mode, the Web API calls batchcron makes (`/api/chat.postMessage`, `chat.update`,
    `chat.postEphemeral`, handed to `on_call` with their arguments and answered as Slack does,
    `{"ok": true, "ts": ...}`)."""
    counter = iter(range(1, 10**9))

    class Handler(_Quiet):
        def do_POST(self) -> None:
            body = self._body()
            if body is None:
                return
            try:
                message = json.loads(body or b"{}")
            except ValueError:
                self._reply(400, b"invalid_payload", {"Content-Type": "text/plain"}, raw=True)
                return
            if not isinstance(message, dict):
                message = {"text": str(message)}
            if self.path.startswith("/api/"):
                method = self.path[len("/api/") :]
                seconds = int(utcnow().timestamp())
                ts = str(message.get("ts") or f"{seconds}.{next(counter):06d}")
                if on_call is not None:
                    on_call(method, {**message, "ts": ts})
                answer = {"ok": True, "channel": message.get("channel"), "ts": ts}
                self._reply(
                    200, json.dumps(answer).encode(), {"Content-Type": "application/json"}, raw=True
                )
                return
            on_message(message)
            self._reply(200, b"ok", {"Content-Type": "text/plain"}, raw=True)

    return Server(Handler, 0)
