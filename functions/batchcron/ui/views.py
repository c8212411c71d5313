"""The status page's views: pure functions from catalogue, job states and runs to the context a
template renders. No AWS, no clock of their own (`now` is passed in), no HTML."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from batchcron.catalogue import Catalogue, Job
from batchcron.models import JobState, Run, Status, parse_time

GRID_RUNS = 25
HISTORY_RUNS = 50
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
}
LEGEND = (
    ("ok", "succeeded"),
    ("failed", "failed, submit failed or missed"),
    ("running", "starting or running"),
    ("waiting", "claimed, queued, submitted, pending or runnable"),
    ("skipped", "skipped or superseded"),
)
FAILED = frozenset({Status.FAILED, Status.SUBMIT_FAILED, Status.MISSED})
STATUS_FILTERS = ("failing", *(status.value for status in Status))

Describe = Callable[[str | None], str]
NextSlot = Callable[[str, str, datetime], datetime | None]


# --- small helpers ------------------------------------------------------------------------------


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
    """The jobs this one runs after (the catalogue's `after`, where the model has it)."""
    value = getattr(job, "after", None) if job is not None else None
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    try:
        return [str(getattr(item, "job", item)) for item in value]
    except TypeError:
        return [str(value)]


# --- the grid ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    status: str = ""
    q: str = ""

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        raw = (query.get("status") or "").strip()
        status = "failing" if raw.lower() == "failing" else raw.upper()
        if status not in STATUS_FILTERS:
            status = ""
        return cls(status=status, q=(query.get("q") or "").strip()[:100])

    @property
    def active(self) -> bool:
        return bool(self.status or self.q)


@dataclass(frozen=True)
class Cell:
    run_id: str
    status: str
    group: str
    href: str
    label: str


@dataclass
class Row:
    job: str
    href: str
    in_catalogue: bool
    repository: str = ""
    schedule: str = ""
    schedule_text: str = ""
    timezone: str = "UTC"
    next_run: str = ""
    enabled: bool = True
    paused: bool = False
    upstream: list[dict[str, str]] = field(default_factory=list)
    streak: int = 0
    last_success: str = ""
    last_success_ago: str = ""
    latest_status: str = ""
    cells: list[Cell] = field(default_factory=list)
    error: str = ""

    @property
    def failing(self) -> bool:
        return self.streak > 0 or self.latest_status in {s.value for s in FAILED}


def cell(run: Run) -> Cell:
    moment = when(run.stopped_at or run.started_at or run.created_at)
    parts = [run.status.value, run.run_id, f"{run.trigger} run", moment]
    if run.exit_code is not None:
        parts.append(f"exit {run.exit_code}")
    return Cell(
        run_id=run.run_id,
        status=run.status.value,
        group=GROUPS.get(run.status, "waiting"),
        href=run_href(run.job, run.run_id),
        label=" · ".join(part for part in parts if part),
    )


def grid_row(
    name: str,
    job: Job | None,
    state: JobState,
    runs: Sequence[Run] | BaseException,
    now: datetime,
    *,
    describe: Describe,
    next_slot: NextSlot,
) -> Row:
    """One job's row. `runs` newest first (as the store returns them), or the error reading
    them: the row says so and every other row is unaffected."""
    row = Row(job=name, href=job_href(name), in_catalogue=job is not None)
    row.paused = state.paused
    row.streak = state.consecutive_failures
    row.last_success = when(state.last_success_at)
    row.last_success_ago = ago(state.last_success_at, now)
    if job is not None:
        row.repository = job.repository
        row.schedule = job.schedule or ""
        row.schedule_text = describe(job.schedule)
        row.timezone = job.timezone
        row.enabled = job.enabled
        row.upstream = [{"job": up, "href": job_href(up)} for up in upstream_of(job)]
        if job.schedule and job.enabled:
            try:
                upcoming = next_slot(job.schedule, job.timezone, now)
            except Exception:  # a slot we cannot work out must not hide the row
                upcoming = None
            if upcoming is not None:
                row.next_run = _local_time(upcoming, job.timezone)
    if isinstance(runs, BaseException):
        row.error = f"could not read runs: {type(runs).__name__}: {runs}"
        return row
    latest = runs[:GRID_RUNS]
    row.latest_status = latest[0].status.value if latest else ""
    row.cells = [cell(run) for run in reversed(latest)]
    return row


def _local_time(moment: datetime, timezone: str) -> str:
    from batchcron.schedule import zone

    return moment.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def grid(
    catalogue: Catalogue,
    states: Mapping[str, JobState],
    runs: Mapping[str, Sequence[Run] | BaseException],
    now: datetime,
    filters: Filters,
    *,
    describe: Describe,
    next_slot: NextSlot,
) -> dict[str, Any]:
    """The grid: catalogue jobs in catalogue order, then the foreign jobs seen, by name."""
    names = list(catalogue.jobs) + sorted(set(states) - set(catalogue.jobs))
    rows = []
    for name in names:
        if filters.q and filters.q.lower() not in name.lower():
            continue
        row = grid_row(
            name,
            catalogue.jobs.get(name),
            states.get(name) or JobState(job=name),
            runs.get(name, []),
            now,
            describe=describe,
            next_slot=next_slot,
        )
        if filters.status == "failing" and not row.failing:
            continue
        if filters.status not in ("", "failing") and row.latest_status != filters.status:
            continue
        rows.append(row)
    return {
        "rows": rows,
        "total": len(names),
        "filters": filters,
        "status_options": STATUS_FILTERS,
        "legend": LEGEND,
        "grid_runs": GRID_RUNS,
        "rendered_at": now.strftime("%H:%M:%S UTC"),
        "failing": sum(1 for row in rows if row.failing),
    }


def status_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The grid as data for scripts (`/api/status`)."""
    return [
        {
            "job": row.job,
            "in_catalogue": row.in_catalogue,
            "schedule": row.schedule or None,
            "schedule_text": row.schedule_text or None,
            "next_run": row.next_run or None,
            "paused": row.paused,
            "enabled": row.enabled,
            "after": [up["job"] for up in row.upstream],
            "consecutive_failures": row.streak,
            "last_success_at": row.last_success or None,
            "latest_status": row.latest_status or None,
            "failing": row.failing,
            "runs": [{"run_id": c.run_id, "status": c.status} for c in row.cells],
            "error": row.error or None,
        }
        for row in rows
    ]


# --- a job -------------------------------------------------------------------------------------


def settings_rows(job: Job) -> list[tuple[str, str]]:
    """The job's settings as the catalogue resolves them (defaults applied), one per line."""
    rows: list[tuple[str, str]] = []

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                add(f"{prefix}.{key}", item)
        elif isinstance(value, list | tuple):
            rows.append((prefix, ", ".join(str(item) for item in value) or "[]"))
        elif isinstance(value, bool):
            rows.append((prefix, "true" if value else "false"))
        else:
            rows.append((prefix, "—" if value is None or value == {} else str(value)))

    for key, value in job.model_dump(mode="json").items():
        add(key, value)
    return rows


def history_row(run: Run, cancellable: bool) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "href": run_href(run.job, run.run_id),
        "status": run.status.value,
        "group": GROUPS.get(run.status, "waiting"),
        "trigger": run.trigger,
        "created": when(run.created_at),
        "duration": duration_text(duration_of(run)),
        "exit_code": "" if run.exit_code is None else str(run.exit_code),
        "reason": "" if run.status == Status.SUCCEEDED else (run.reason or ""),
        "cancellable": cancellable,
    }


def can_cancel(run: Run) -> bool:
    return run.status == Status.QUEUED or (not run.status.terminal and bool(run.batch_job_id))


def chart(runs: Sequence[Run], width: int = 720, height: int = 140) -> dict[str, Any]:
    """Bars of run durations, oldest to newest, for an inline SVG (coloured by status group)."""
    ordered = list(reversed(runs))
    durations = [duration_of(run) for run in ordered]
    longest = max((d for d in durations if d), default=0.0)
    top, bottom = 16, 18
    usable = height - top - bottom
    slot = width / max(len(ordered), 1)
    bars = []
    for index, (run, seconds) in enumerate(zip(ordered, durations, strict=True)):
        tall = max(2.0, usable * seconds / longest) if seconds and longest else 2.0
        wide = min(max(slot * 0.7, 1.0), 28.0)
        bars.append(
            {
                "x": round(index * slot + (slot - wide) / 2, 1),
                "y": round(top + usable - tall, 1),
                "width": round(wide, 1),
                "height": round(tall, 1),
                "group": GROUPS.get(run.status, "waiting"),
                "href": run_href(run.job, run.run_id),
                "label": f"{run.run_id} · {run.status.value} · "
                + (duration_text(seconds) or "no duration"),
            }
        )
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "baseline": top + usable,
        "max_label": duration_text(longest) if longest else "",
    }


def job_page(
    name: str,
    job: Job | None,
    state: JobState,
    runs: Sequence[Run],
    now: datetime,
    *,
    describe: Describe,
    next_slot: NextSlot,
) -> dict[str, Any]:
    recent = list(runs[:HISTORY_RUNS])
    row = grid_row(name, job, state, recent, now, describe=describe, next_slot=next_slot)
    return {
        "job": name,
        "row": row,
        "entry": job,
        "state": state,
        "paused_at": when(state.paused_at),
        "settings": settings_rows(job) if job is not None else [],
        "history": [history_row(run, can_cancel(run)) for run in recent],
        "chart": chart(recent),
        "legend": LEGEND,
        "can_run": job is not None and job.enabled,
    }


# --- a run -------------------------------------------------------------------------------------


def run_page(
    run: Run,
    job: Job | None,
    logs: Sequence[tuple[int, str]],
    log_note: str,
    *,
    region: str,
    log_group: str | None,
    console_links: bool,
) -> dict[str, Any]:
    trigger: list[tuple[str, str, str]] = [("Trigger", run.trigger, "")]
    if run.slot:
        trigger.append(("Slot", when(run.slot), ""))
    if run.git_ref:
        trigger.append(("Git ref", run.git_ref, ""))
    if run.pusher:
        trigger.append(("Pushed by", run.pusher, ""))
    if run.compare_url and run.compare_url.startswith("https://"):
        trigger.append(("Compare", run.compare_url, run.compare_url))
    if run.repository:
        trigger.append(("Repository", run.repository, ""))
    trigger.append(("Created", when(run.created_at), ""))
    if run.submitted_at:
        trigger.append(("Submitted", when(run.submitted_at), ""))
    attempts = [
        {
            "number": index,
            "exit_code": "" if attempt.exit_code is None else str(attempt.exit_code),
            "reason": attempt.reason or "",
            "started": when(attempt.started_at),
            "stopped": when(attempt.stopped_at),
            "duration": duration_text(span(attempt.started_at, attempt.stopped_at)),
            "log_stream": attempt.log_stream or "",
        }
        for index, attempt in enumerate(run.attempts, start=1)
    ]
    stream = run.log_stream or next(
        (a.log_stream for a in reversed(run.attempts) if a.log_stream), None
    )
    links: list[tuple[str, str]] = []
    if console_links:
        console = f"https://{region}.console.aws.amazon.com"
        if log_group and stream:
            links.append(
                (
                    "CloudWatch log stream",
                    f"{console}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
                    f"{_console_path(log_group)}/log-events/{_console_path(stream)}",
                )
            )
        if run.batch_job_id:
            links.append(
                (
                    "Batch console",
                    f"{console}/batch/home?region={region}#jobs/detail/"
                    + quote(run.batch_job_id, safe=""),
                )
            )
    alert = run.alert
    return {
        "run": run,
        "job": run.job,
        "job_href": job_href(run.job),
        "in_catalogue": job is not None,
        "status": run.status.value,
        "group": GROUPS.get(run.status, "waiting"),
        "exit_code": "" if run.exit_code is None else str(run.exit_code),
        "reason": run.reason or "",
        "duration": duration_text(duration_of(run)),
        "started": when(run.started_at),
        "stopped": when(run.stopped_at),
        "trigger": trigger,
        "attempts": attempts,
        "alert": {
            "kind": alert.kind.replace("_", " "),
            "state": alert.state,
            "failures": alert.failures,
            "created": when(alert.created_at),
            "sent": when(alert.sent_at),
        }
        if alert is not None
        else None,
        "logs": [(_clock(stamp), text) for stamp, text in logs[-LOG_LINES:]],
        "log_note": log_note,
        "log_stream": stream or "",
        "links": links,
        "cancellable": can_cancel(run),
    }


def _clock(stamp_ms: int) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(stamp_ms / 1000, UTC).strftime("%H:%M:%S")


def _console_path(text: str) -> str:
    """The CloudWatch console's fragment encoding: URL-encode, then '%' becomes '$25'."""
    return quote(text, safe="").replace("%", "$25")
