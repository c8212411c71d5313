"""Local mode (`batchcron local`, `make run`): the whole system in one process.

moto's server stands in for AWS; the real handlers run the webhook (over a real HTTP server),
the dispatcher (on a real-minute tick) and the job-state function (fed Batch state-change events
synthesized here, because moto emits none). Slack alerts go to a local sink that prints them,
or to real Slack when SLACK_WEBHOOK_URL is set. Never imported by a handler.

May import: `handlers`, `wiring` and every layer below them; never `cli` or `ui` (the CLI
starts local mode and hands it the status page: `LocalOptions.status_page`).
"""

from batchcron.local.options import LocalError, LocalOptions
from batchcron.local.system import run_local

__all__ = ["LocalError", "LocalOptions", "run_local"]
