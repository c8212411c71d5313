"""Local mode (`batchcron local`, `make run`): the whole system in one process.

moto's server stands in for AWS; the real handlers run the webhook (over a real HTTP server),
the dispatcher (on a real-minute tick) and the job-state function (fed Batch state-change events
synthesized here, because moto emits none). Slack alerts go to a local sink that prints them,
or to real Slack when SLACK_WEBHOOK_URL is set. Never imported by a handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class LocalError(RuntimeError):
    """Local mode cannot start (e.g. a port is taken)."""


@dataclass(frozen=True)
class LocalOptions:
    port: int = 3000
    aws_port: int = 5000
    replay_from: datetime | None = None
    now: datetime | None = None  # --now: the clock starts here (aware), then runs at real speed
    failures: dict[str, int | None] = field(default_factory=dict)  # job -> first N (None: all)
    duration: float | None = None
    webhook_secret: str = "local-webhook-secret"
    pace: float = 1.0  # seconds between a job's synthesized state changes
    tick_seconds: float = 60.0
    verbose: bool = False
    region: str = "eu-west-2"


def run_local(options: LocalOptions) -> int:
    """Start everything, run until --duration or Ctrl-C, shut down cleanly. Exit status."""
    from batchcron.local.system import LocalSystem

    return LocalSystem(options).run()
