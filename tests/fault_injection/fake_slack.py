"""A Slack stand-in on 127.0.0.1 that can be down, slow or rate limiting, and remembers every
message it was sent and how it answered: incoming webhooks (`/services/...`), the Web API calls
batchcron makes in Slack app mode (`/api/chat.postMessage`, `chat.update`, `chat.postEphemeral`,
answered as https://api.slack.com/web documents: JSON with `ok`, a 429 `ratelimited` with
Retry-After) and interactions' response URLs (`/actions/...`)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from batchcron.local.http import Server

Mode = Literal["ok", "drop", "503", "429", "slow", "404", "403", "400"]


@dataclass(frozen=True)
class Received:
    """One POST: which alert it carried and how it was answered."""

    run_id: str
    headline: str
    mode: Mode
    status: int | None  # None: the connection was dropped without an answer
    delay: float


def run_id_of(message: dict[str, Any]) -> str:
    """The run id in a batchcron alert (its `Run` field)."""
    for block in message.get("blocks") or []:
        for item in block.get("fields") or []:
            text = str(item.get("text", ""))
            if text.startswith("*Run*\n"):
                return text.split("\n", 1)[1].strip("`")
    return ""


def over_limits(message: dict[str, Any]) -> list[str]:
    """Where `message` breaks Block Kit's limits (empty when it is within them): 50 blocks,
    header 150, section text 3,000, 10 fields of 2,000 each, context element 3,000; an actions
    block of at most 25 buttons, each with text of 75, a value of 2,000 and an action_id of 255.
    Lengths are counted as Slack does: characters of the text as sent (escapes included)."""
    problems = []
    blocks = message.get("blocks") or []
    if len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        text = str((block.get("text") or {}).get("text", ""))
        if kind == "header" and len(text) > 150:
            problems.append(f"block {i}: header of {len(text)}")
        if kind == "section":
            if len(text) > 3000:
                problems.append(f"block {i}: section text of {len(text)}")
            fields = block.get("fields") or []
            if len(fields) > 10:
                problems.append(f"block {i}: {len(fields)} fields")
            for field in fields:
                if len(str(field.get("text", ""))) > 2000:
                    problems.append(f"block {i}: field of {len(str(field.get('text', '')))}")
        if kind == "context":
            for element in block.get("elements") or []:
                if len(str(element.get("text", ""))) > 3000:
                    problems.append(f"block {i}: context element of {len(str(element['text']))}")
        if kind == "actions":
            elements = block.get("elements") or []
            if len(elements) > 25:
                problems.append(f"block {i}: {len(elements)} actions")
            for element in elements:
                label = str((element.get("text") or {}).get("text", ""))
                if len(label) > 75:
                    problems.append(f"block {i}: button text of {len(label)}")
                if len(str(element.get("value", ""))) > 2000:
                    problems.append(f"block {i}: button value over 2000")
                if len(str(element.get("action_id", ""))) > 255:
                    problems.append(f"block {i}: action_id over 255")
    if len(str(message.get("text", ""))) > 40000:
        problems.append("text over 40000")
    return problems


def headline_of(message: dict[str, Any]) -> str:
    for block in message.get("blocks") or []:
        if block.get("type") == "header":
            return str(block["text"]["text"])
    return str(message.get("text", ""))


# What Slack answers an incoming webhook it refuses (https://api.slack.com/messaging/webhooks).
REFUSALS = {
    "503": (503, b"service_unavailable"),
    "429": (429, b"rate_limited"),
    "404": (404, b"no_service"),
    "403": (403, b"invalid_token"),
    "400": (400, b"invalid_blocks"),
}


class FakeSlack:
    """`mode`: ok (200), drop (close without answering), 503, 429 (with `Retry-After:
    retry_after`), 404 no_service / 403 invalid_token (a revoked webhook), 400 invalid_blocks,
    slow (answer 200 after `delay` seconds; a hang when longer than the client waits).
    A message over Block Kit's limits is answered 400 invalid_blocks, as Slack does."""

    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self.delay = 0.0
        self.retry_after = 0
        self.received: list[Received] = []
        self.messages: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []  # Web API method, its arguments
        self.responses: list[tuple[str, dict[str, Any]]] = []  # response_url path, message
        self._ts = 0
        self._lock = threading.Lock()
        self.server = Server(self._handler(), 0)

    @property
    def url(self) -> str:
        return f"{self.server.url}/services/T000/B000/fake"

    def __enter__(self) -> FakeSlack:
        self.server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.stop()

    @property
    def api_url(self) -> str:
        """The Web API's base URL (SLACK_API_URL)."""
        return f"{self.server.url}/api/"

    def response_url(self, name: str = "T000/1/abc") -> str:
        return f"{self.server.url}/actions/{name}"

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [args for name, args in self.calls if name == method]

    def _api(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Record one Web API call and what Slack would answer it in the current mode."""
        with self._lock:
            mode = self.mode
            self.calls.append((method, args))
            self.received.append(
                Received(run_id_of(args), headline_of(args), mode, None, self.delay)
            )
            if mode == "429":
                return 429, {"ok": False, "error": "ratelimited"}
            if mode in ("503", "drop", "slow"):
                return 503, {"ok": False, "error": "service_unavailable"}
            if mode in ("404", "403"):
                return 200, {"ok": False, "error": "channel_not_found"}
            if mode == "400" or over_limits(args):
                return 200, {"ok": False, "error": "invalid_blocks"}
            self._ts += 1
            ts = args.get("ts") or f"1764633600.{self._ts:06d}"
            return 200, {"ok": True, "channel": args.get("channel"), "ts": ts}

    def set(self, mode: Mode, delay: float = 0.0) -> None:
        with self._lock:
            self.mode, self.delay = mode, delay

    def _record(self, message: dict[str, Any]) -> tuple[Mode, float]:
        with self._lock:
            mode, delay = self.mode, self.delay
            if mode in ("ok", "slow") and over_limits(message):
                mode = "400"
            status = (
                200 if mode in ("ok", "slow") else REFUSALS[mode][0] if mode in REFUSALS else None
            )
            self.messages.append(message)
            self.received.append(
                Received(run_id_of(message), headline_of(message), mode, status, delay)
            )
        return mode, delay

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b"{}"
                try:
                    message = json.loads(body)
                except ValueError:
                    message = {}
                if not isinstance(message, dict):
                    message = {}
                if self.path.startswith("/api/"):
                    self._answer_api(self.path[len("/api/") :], message)
                    return
                if self.path.startswith("/actions/"):
                    with fake._lock:
                        fake.responses.append((self.path, message))
                    self._send(200, b"ok", "text/plain")
                    return
                mode, delay = fake._record(message)
                if mode == "drop":
                    self.close_connection = True
                    return
                if mode == "slow":
                    time.sleep(delay)
                status, text = REFUSALS.get(mode, (200, b"ok"))
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                if status == 429:
                    self.send_header("Retry-After", str(fake.retry_after))
                self.end_headers()
                try:
                    self.wfile.write(text)
                except OSError:  # the client gave up waiting
                    self.close_connection = True

            def _answer_api(self, method: str, args: dict[str, Any]) -> None:
                status, answer = fake._api(method, args)
                self._send(status, json.dumps(answer).encode(), "application/json")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", str(fake.retry_after))
                self.end_headers()
                self.wfile.write(body)

        return Handler
