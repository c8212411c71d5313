"""CloudWatch Logs adapter for job log streams (read by `batchcron logs`, written by local mode)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class NoLogStreamError(LookupError):
    """The log group or stream does not exist."""


@dataclass(frozen=True)
class LogPage:
    lines: list[tuple[int, str]]  # (timestamp ms, message)
    token: str | None


class JobLogs:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            # One per command or local-mode run: short-lived, so no module-level cache.
            self._client = boto3.session.Session().client("logs")
        return self._client

    def read(self, group: str, stream: str, token: str | None = None) -> LogPage:
        """The next events of a stream (from the start when `token` is None)."""
        request: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": True,
        }
        if token:
            request["nextToken"] = token
        try:
            response = self.client.get_log_events(**request)
        except self.client.exceptions.ResourceNotFoundException:
            raise NoLogStreamError(f"{group} {stream}") from None
        lines = [
            (int(e.get("timestamp", 0)), str(e.get("message", ""))) for e in response["events"]
        ]
        return LogPage(lines, response.get("nextForwardToken"))

    def tail(self, group: str, stream: str, limit: int = 200) -> list[tuple[int, str]]:
        """The last `limit` events of a stream, oldest first (one call)."""
        try:
            response = self.client.get_log_events(
                logGroupName=group, logStreamName=stream, startFromHead=False, limit=limit
            )
        except self.client.exceptions.ResourceNotFoundException:
            raise NoLogStreamError(f"{group} {stream}") from None
        events = response["events"][-limit:]
        return [(int(e.get("timestamp", 0)), str(e.get("message", ""))) for e in events]

    def write(self, group: str, stream: str, lines: Sequence[tuple[int, str]]) -> None:
        """Create the stream if needed and append `lines` (timestamp ms, message)."""
        with contextlib.suppress(self.client.exceptions.ResourceAlreadyExistsException):
            self.client.create_log_stream(logGroupName=group, logStreamName=stream)
        if lines:
            self.client.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": ts, "message": text} for ts, text in lines],
            )
