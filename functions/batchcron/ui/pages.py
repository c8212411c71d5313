"""A job's page (`/jobs/JOB`) and a run's page (`/runs/JOB/RUN`): context for their
templates. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from batchcron.catalogue.model import Job
from batchcron.models import JobState, Run, Status
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
