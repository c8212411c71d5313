"""A Slack incoming webhook stand-in on 127.0.0.1 that can be down, slow or rate limiting, and
remembers every message it was sent and how it answered."""

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
    header 150, section text 3,000, 10 fields of 2,000 each, context element 3,000."""
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
                mode, delay = fake._record(message if isinstance(message, dict) else {})
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

        return Handler
