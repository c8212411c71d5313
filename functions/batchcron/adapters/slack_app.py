"""Slack app adapter: the Web API calls batchcron makes with a bot token (chat.postMessage,
chat.update, chat.postEphemeral through slack_sdk's WebClient) and the signing-secret check of
an interaction (slack_sdk's SignatureVerifier). Slack's answers map onto the webhook adapter's
errors, so the outbox treats both alike: a 429 or `ratelimited` is SlackRateLimitedError with
Retry-After, a 5xx or no answer SlackUnavailableError, any other refusal SlackRejectedError.
slack_sdk is imported on first use only. The token is a secret: never logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from batchcron.adapters.slack import (
    DEFAULT_TIMEOUT,
    SlackError,
    SlackRateLimitedError,
    SlackRejectedError,
    SlackUnavailableError,
    _retry_after,
)

MAX_SIGNATURE_AGE = 5 * 60  # seconds: an older X-Slack-Request-Timestamp is a replay

_log = logging.getLogger("batchcron.adapters.slack_app")
_log.setLevel(logging.INFO)  # slack_sdk logs requests (the token's header) at DEBUG


class SlackApp:
    """The Web API with one bot token."""

    def __init__(self, token: str, base_url: str, *, timeout: int = DEFAULT_TIMEOUT) -> None:
        from slack_sdk import WebClient

        base = base_url if base_url.endswith("/") else base_url + "/"
        self._client = WebClient(token=token, base_url=base, timeout=timeout, logger=_log)

    def post(
        self, channel: str, message: Mapping[str, Any], *, thread_ts: str | None = None
    ) -> str:
        """chat.postMessage; the new message's `ts`."""
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        answer = self._call("chat.postMessage", {"channel": channel, **message, **extra})
        return str(answer.get("ts") or "")

    def update(self, channel: str, ts: str, message: Mapping[str, Any]) -> None:
        """chat.update: replace the message at `ts`."""
        self._call("chat.update", {"channel": channel, "ts": ts, **message})

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        """chat.postEphemeral: a line only `user` sees."""
        self._call("chat.postEphemeral", {"channel": channel, "user": user, "text": text})

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        from http.client import HTTPException

        from slack_sdk.errors import SlackApiError

        try:
            response = self._client.api_call(method, json=payload)
        except SlackApiError as exc:
            raise _error(method, exc.response) from None
        except (OSError, HTTPException) as exc:
            raise SlackUnavailableError(f"Slack unreachable: {type(exc).__name__}") from None
        return dict(response.data) if isinstance(response.data, dict) else {}


def _error(method: str, response: Any) -> SlackError:
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    code = str(data.get("error") or "") if isinstance(data, dict) else str(data or "")[:200]
    if status == 429 or code == "ratelimited":
        return SlackRateLimitedError(
            f"{method}: Slack answered {status} {code}",
            retry_after=_retry_after(getattr(response, "headers", None)),
        )
    if status >= 500:
        return SlackUnavailableError(f"{method}: Slack answered {status} {code}", status=status)
    return SlackRejectedError(f"{method}: Slack refused ({status} {code})", status=status or 400)


def signature_valid(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, *, now: float
) -> bool:
    """Whether `signature` is Slack's `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` with `secret`
    (constant time) and `timestamp` is within MAX_SIGNATURE_AGE of `now`."""
    if not secret or not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > MAX_SIGNATURE_AGE:
        return False
    from slack_sdk.signature import SignatureVerifier

    class _Clock:
        def now(self) -> float:
            return now

    verifier = SignatureVerifier(secret, clock=_Clock())  # type: ignore[arg-type]
    try:
        return bool(verifier.is_valid(body.decode("utf-8"), timestamp, signature))
    except UnicodeDecodeError:
        return False


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Slack-Signature Slack sends for `body` at `timestamp` (tests and local mode)."""
    import hashlib
    import hmac

    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def response_url_allowed(url: str, api_url: str) -> bool:
    """Whether `url` is a response_url batchcron may post to: Slack's hooks host over https,
    or the host of SLACK_API_URL (tests and local mode's sink stand in for Slack)."""
    from urllib.parse import urlsplit

    target, api = urlsplit(url), urlsplit(api_url)
    if target.scheme == "https" and target.hostname == "hooks.slack.com":
        return True
    return (target.scheme, target.netloc) == (api.scheme, api.netloc) and bool(target.netloc)
