"""What the status page's views share: status colours, links, times and durations as text.
Pure: no AWS, no clock of its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from batchcron.catalogue.model import Job
from batchcron.models import Run, Status, parse_time

GRID_RUNS = 25
PHONE_RUNS = 10  # a phone's card shows a job's newest squares only
HISTORY_RUNS = 50
COST_RUNS = 500  # a job page reads this many runs for its cost this month and last 30 days
LOG_LINES = 200

# Colour group of each status (the stylesheet colours `s-<group>`); the text is always shown too.
GROUPS: dict[Status, str] = {
    Status.SUCCEEDED: "ok",
    Status.FAILED: "failed",
    Status.SUBMIT_FAILED: "failed",
    Status.MISSED: "failed",
    Status.SKIPPED: "skipped",
    Status.SUPERSEDED: "skipped",
    Status.RUNNING: "running",
    Status.STARTING: "running",
    Status.RUNNABLE: "waiting",
    Status.PENDING: "waiting",
    Status.SUBMITTED: "waiting",
    Status.QUEUED: "waiting",
    Status.CLAIMED: "waiting",
    Status.CANCELLED: "cancelled",
}
LEGEND = (
    ("ok", "succeeded"),
    ("failed", "failed, submit failed or missed"),
    ("running", "starting or running"),
    ("waiting", "claimed, queued, submitted, pending or runnable"),
    ("skipped", "skipped or superseded"),
    ("cancelled", "cancelled"),
)
FAILED = frozenset({Status.FAILED, Status.SUBMIT_FAILED, Status.MISSED})
STATUS_FILTERS = ("failing", *(status.value for status in Status))

Describe = Callable[[str | None], str]
NextSlot = Callable[[str, str, datetime], datetime | None]


# --- helpers ------------------------------------------------------------------------------


def job_href(job: str) -> str:
    return "/jobs/" + quote(job, safe="")


def run_href(job: str, run_id: str) -> str:
    return f"/runs/{quote(job, safe='')}/{quote(run_id, safe='')}"


def when(text: str | None) -> str:
    """An ISO time as `yyyy-mm-dd HH:MM:SSZ`, or '' (as the CLI prints times)."""
    if not text:
        return ""
    try:
        return parse_time(text).strftime("%Y-%m-%d %H:%M:%SZ")
    except ValueError:
        return text


def ago(text: str | None, now: datetime) -> str:
    """'5 min ago' style age of an ISO time, or ''."""
    if not text:
        return ""
    try:
        seconds = (now - parse_time(text)).total_seconds()
    except ValueError:
        return ""
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def duration_of(run: Run) -> float | None:
    if run.duration_seconds is not None:
        return run.duration_seconds
    return span(run.started_at, run.stopped_at)


def span(start: str | None, stop: str | None) -> float | None:
    if not start or not stop:
        return None
    try:
        return (parse_time(stop) - parse_time(start)).total_seconds()
    except ValueError:
        return None


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def upstream_of(job: Job | None) -> list[str]:
    """The jobs this one runs after (the catalogue's `after.jobs`)."""
    after = job.after if job is not None else None
    return list(after.jobs) if after is not None else []


def clock(stamp_ms: int) -> str:
    return datetime.fromtimestamp(stamp_ms / 1000, UTC).strftime("%H:%M:%S")


def console_path(text: str) -> str:
    """The CloudWatch console's fragment encoding: URL-encode, then '%' becomes '$25'."""
    return quote(text, safe="").replace("%", "$25")
