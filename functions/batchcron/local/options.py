"""What `batchcron local` is started with: its options, and the status page it is handed."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

LOCAL_SLACK_SIGNING_SECRET = "local-slack-signing-secret"
LOCAL_SLACK_CHANNEL = "C0LOCAL"


class LocalError(RuntimeError):
    """Local mode cannot start (e.g. a port is taken)."""


class Page(Protocol):
    """The status page as local mode serves it on its webhook port: one request's answer, and
    the port it is served on (for its Host check)."""

    port: int | None

    def __call__(self, handler: BaseHTTPRequestHandler) -> None: ...


Guard = Callable[[], AbstractContextManager[Any]]


class PageFactory(Protocol):
    """(region, job log group, guard) -> the page; the guard runs its actions one at a time
    with the handlers. `slack_app`: local mode runs in Slack app mode (the page's alert gets
    working buttons). Handed in by whoever starts local mode (the CLI), so local mode imports
    no page."""

    def __call__(
        self, region: str, log_group: str | None, guard: Guard, *, slack_app: bool = False
    ) -> Page: ...


@dataclass(frozen=True)
class LocalOptions:
    port: int = 3000
    aws_port: int = 5000
    replay_from: datetime | None = None
    now: datetime | None = None  # --now: the clock starts here (aware), then runs at real speed
    failures: dict[str, int | None] = field(default_factory=dict)  # job -> first N (None: all)
    duration: float | None = None
    webhook_secret: str = "local-webhook-secret"
    github_hosts: tuple[str, ...] = ("github.com",)  # GITHUB_HOSTS of the local webhook
    pace: float = 1.0  # seconds between a job's synthesized state changes
    tick_seconds: float = 60.0
    verbose: bool = False
    region: str = "eu-west-2"
    # Slack app mode against the sink: a bot token, a channel and a signing secret (docs/alerts.md)
    slack_app: bool = False
    status_page: PageFactory | None = None  # None: the webhook port serves only the webhook
