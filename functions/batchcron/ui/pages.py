"""A job's page (`/jobs/JOB`) and a run's page (`/runs/JOB/RUN`): context for their
templates. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from batchcron.catalogue.model import Job
from batchcron.catalogue.prices import PriceSettings
from batchcron.models import JobState, Run, Status, iso, parse_time
from batchcron.outcomes.cost import cost_text, run_cost
from batchcron.outcomes.lag import lag_percentiles, lag_text, start_lag, timeline
from batchcron.ui.grid import grid_row
from batchcron.ui.text import (
    GROUPS,
    HISTORY_RUNS,
    LEGEND,
    LOG_LINES,
    Describe,
    NextSlot,
    clock,
    console_path,
    duration_of,
    duration_text,
    job_href,
    run_href,
    span,
    when,
)

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
    if run.status.terminal or run.cancel_requested_at:
        return False
    return run.status == Status.QUEUED or bool(run.batch_job_id)


def chart(
    runs: Sequence[Run],
    width: int = 720,
    height: int = 140,
    *,
    value: Callable[[Run], float | None] = duration_of,
    shown: Callable[[float | None], str | None] = duration_text,
    nothing: str = "no duration",
) -> dict[str, Any]:
    """Bars of run durations (or another `value`: cost), oldest to newest, for an inline SVG
    (coloured by status group)."""
    ordered = list(reversed(runs))
    durations = [value(run) for run in ordered]
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
                "label": f"{run.run_id} · {run.status.value} · " + (shown(seconds) or nothing),
            }
        )
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "baseline": top + usable,
        "max_label": shown(longest) if longest else "",
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
    region: str = "",
    prices: PriceSettings | None = None,
) -> dict[str, Any]:
    """`runs`: newest first, the last 30 days' at least (for the cost figures)."""
    recent = list(runs[:HISTORY_RUNS])
    row = grid_row(name, job, state, recent, now, describe=describe, next_slot=next_slot)

    def cost_of(run: Run) -> float | None:
        found = run_cost(run, job, region=region, settings=prices)
        return found.usd if found is not None else None

    month = iso(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)) or ""
    thirty = iso(now - timedelta(days=30)) or ""
    costs = [(run.created_at, cost_of(run)) for run in runs]
    lag = lag_percentiles(runs)
    return {
        "job": name,
        "row": row,
        "entry": job,
        "state": state,
        "paused_at": when(state.paused_at),
        "settings": settings_rows(job) if job is not None else [],
        "history": [history_row(run, can_cancel(run)) for run in recent],
        "chart": chart(recent),
        "cost_chart": chart(
            recent, height=100, value=cost_of, shown=_usd, nothing="no cost estimate"
        ),
        "cost_month": cost_text(sum(c for at, c in costs if c and at >= month)),
        "cost_30d": cost_text(sum(c for at, c in costs if c and at >= thirty)),
        "lag": {"p50": lag_text(lag.p50), "p95": lag_text(lag.p95), "runs": lag.runs}
        if lag
        else None,
        "deadline": _deadline_text(job),
        "deadline_missed": when(state.deadline_missed),
        "paused_by": state.paused_by or "",
        "paused_reason": state.paused_reason or "",
        "legend": LEGEND,
        "can_run": job is not None and job.enabled,
    }


def _usd(value: float | None) -> str | None:
    return cost_text(value) if value else None


def _deadline_text(job: Job | None) -> str:
    if job is None:
        return ""
    if job.deadline:
        return f"finished by {job.deadline} ({job.timezone})"
    if job.deadline_minutes:
        return f"finished within {job.deadline_minutes} min of its slot"
    return ""


def run_timeline(run: Run) -> list[dict[str, str]]:
    """The run's life, each step with the time since the one before."""
    steps = timeline(run)
    found = []
    for index, (step, at) in enumerate(steps):
        gap = ""
        if index:
            seconds = (parse_time(at) - parse_time(steps[index - 1][1])).total_seconds()
            gap = "+" + lag_text(max(seconds, 0.0))
        found.append({"step": step, "at": when(at), "gap": gap})
    return found


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
    prices: PriceSettings | None = None,
    now: datetime | None = None,
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
                    f"{console_path(log_group)}/log-events/{console_path(stream)}",
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
    cost = run_cost(run, job, region=region, settings=prices, now=now)
    return {
        "cost": {
            "text": cost_text(cost.usd),
            "detail": f"estimate{'' if run.finished else ', so far'}: {cost.attempts} "
            f"attempt(s), {duration_text(cost.seconds) or '0s'} at {cost.vcpus:g} vCPU / "
            f"{cost.memory_gb:g} GB, {cost.rate.source}",
        }
        if cost is not None
        else None,
        "start_lag": lag_text(start_lag(run)),
        "timeline": run_timeline(run),
        "run": run,
        "job": run.job,
        "job_href": job_href(run.job),
        "in_catalogue": job is not None,
        "status": run.status.value,
        "group": GROUPS.get(run.status, "waiting"),
        "exit_code": "" if run.exit_code is None else str(run.exit_code),
        "reason": run.reason or "",
        "specific_cause": run.specific_cause or "",
        "children": run.children.sentence(run.child_kind or "array children")
        if run.children is not None
        else "",
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
        "logs": [(clock(stamp), text) for stamp, text in logs[-LOG_LINES:]],
        "log_note": log_note,
        "log_stream": stream or "",
        "links": links,
        "cancellable": can_cancel(run),
        "run_href": run_href(run.job, run.run_id),
        "confirm_cancel": False,
        "cancel_requested": when(run.cancel_requested_at) if not run.status.terminal else "",
        "cancel_requested_by": run.cancel_requested_by or "",
        "terminal": run.status.terminal,
        "upstream_runs": [
            {"run_id": upstream, "href": run_href(_job_of(upstream, job), upstream)}
            for upstream in run.upstream_runs
        ],
    }


def _job_of(run_id: str, job: Job | None) -> str:
    """The job an upstream run id belongs to: the upstream job whose name prefixes it."""
    names = sorted(job.after.jobs if job is not None and job.after else (), key=len, reverse=True)
    return next((name for name in names if run_id.startswith(f"{name}-")), run_id.rsplit("-", 1)[0])
