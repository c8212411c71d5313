"""Slack adapter: post a message to an incoming webhook (slack_sdk's WebhookClient), retrying 5xx
and connection errors once, with a short timeout per request. A 429 is never slept out here:
SlackRateLimitedError carries Retry-After and the alert's next attempt moves instead. The webhook
URL is a secret: never logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

DEFAULT_TIMEOUT = 3  # seconds to connect and per read; a hanging Slack costs this, not a tick
DEFAULT_RETRIES = 1  # per kind of error (5xx, connection), after the first try
DEFAULT_BACKOFF = 0.5  # seconds, doubled per retry

# slack_sdk logs the URL at DEBUG: keep its logger above that.
_log = logging.getLogger("batchcron.adapters.slack")
_log.setLevel(logging.INFO)


class SlackError(RuntimeError):
    """Slack did not accept the message (after retries): the alert stays pending."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SlackUnavailableError(SlackError):
    """Slack is down, rate limiting or unreachable: worth trying again later."""


class SlackRateLimitedError(SlackUnavailableError):
    """Slack answered 429: try again after `retry_after` seconds (its Retry-After)."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class SlackRejectedError(SlackError):
    """Slack refused the request (4xx): the webhook was revoked or the payload is invalid."""


class Slack:
    """Sends messages to incoming webhooks."""

    def __init__(
        self,
        *,
        timeout: int = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float | None = None,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = DEFAULT_BACKOFF if backoff is None else backoff
        self._clients: dict[str, Any] = {}

    def _client(self, url: str) -> Any:
        client = self._clients.get(url)
        if client is None:
            client = self._clients[url] = self._make_client(url)
        return client

    def _make_client(self, url: str) -> Any:
        from slack_sdk.http_retry.builtin_handlers import (
            ConnectionErrorRetryHandler,
            ServerErrorRetryHandler,
        )
        from slack_sdk.http_retry.builtin_interval_calculators import (
            BackoffRetryIntervalCalculator,
            FixedValueRetryIntervalCalculator,
        )
        from slack_sdk.webhook import WebhookClient

        class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
            """The built-in handler retries 500 and 503 only; 502 and 504 pass too."""

            def _can_retry(self, *, response: Any = None, **_: Any) -> bool:
                return response is not None and 500 <= response.status_code < 600

        interval = (
            BackoffRetryIntervalCalculator(backoff_factor=self.backoff)
            if self.backoff > 0
            else FixedValueRetryIntervalCalculator(fixed_internal=0)
        )
        handlers = [
            ConnectionErrorRetryHandler(max_retry_count=self.retries, interval_calculator=interval),
            AnyServerErrorRetryHandler(max_retry_count=self.retries, interval_calculator=interval),
        ]
        return WebhookClient(url, timeout=self.timeout, retry_handlers=handlers, logger=_log)

    def send(self, url: str, message: Mapping[str, Any]) -> None:
        """Post `message` (text + blocks); SlackError unless Slack answers 200."""
        from http.client import HTTPException

        try:
            response = self._client(url).send_dict(dict(message))
        except (OSError, HTTPException) as exc:
            raise SlackUnavailableError(f"Slack unreachable: {type(exc).__name__}") from None
        status = int(response.status_code)
        if status == 200:
            return
        body = str(response.body or "")[:200]
        if status == 429:
            raise SlackRateLimitedError(
                f"Slack answered 429: {body}", retry_after=_retry_after(response.headers)
            )
        if status >= 500:
            raise SlackUnavailableError(f"Slack answered {status}: {body}", status=status)
        raise SlackRejectedError(f"Slack refused the message ({status}): {body}", status=status)


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds from a Retry-After header (seconds form), when there is a usable one."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            text = value[0] if isinstance(value, list) and value else value
            try:
                seconds = float(str(text).strip())
            except ValueError:
                return None
            return seconds if seconds >= 0 else None
    return None
