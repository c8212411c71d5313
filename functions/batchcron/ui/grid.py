"""The grid (`/`, `/grid`, `/api/status`): a row per job, its last runs as cells. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batchcron.catalogue.model import Catalogue, Job
from batchcron.models import JobState, Run
from batchcron.ui.text import (
    FAILED,
    GRID_RUNS,
    GROUPS,
    LEGEND,
    PHONE_RUNS,
    STATUS_FILTERS,
    Describe,
    NextSlot,
    ago,
    job_href,
    run_href,
    upstream_of,
    when,
)

# --- rows ------------------------------------------------------------------------------------


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
    paused_by: str = ""
    deadline_missed: str = ""  # the due time of a deadline missed and not met yet
    upstream: list[dict[str, str]] = field(default_factory=list)
    streak: int = 0
    last_success: str = ""
    last_success_ago: str = ""
    latest_status: str = ""
    cells: list[Cell] = field(default_factory=list)
    error: str = ""
    waiting: str = ""  # `waiting: conservation-area FAILED 01:42` (catalogue/upstream.py)
    waiting_href: str = ""  # the upstream run that holds it up, when one failed
    overdue: str = ""  # an `after:` wait past its max_wait, in words (catalogue.upstream)

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
    states: Mapping[str, JobState] | None = None,
) -> Row:
    """One job's row. `runs` newest first (as the store returns them), or the error reading
    them: the row says so and every other row is unaffected."""
    row = Row(job=name, href=job_href(name), in_catalogue=job is not None)
    row.paused = state.paused
    row.paused_by = " ".join(filter(None, [state.paused_by or "", state.paused_reason or ""]))
    row.deadline_missed = when(state.deadline_missed)
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
        if states is not None and not state.paused:
            _mark_waiting(row, job, states, now)
    if isinstance(runs, BaseException):
        row.error = f"could not read runs: {type(runs).__name__}: {runs}"
        return row
    latest = runs[:GRID_RUNS]
    row.latest_status = latest[0].status.value if latest else ""
    row.cells = [cell(run) for run in reversed(latest)]
    return row


def _mark_waiting(row: Row, job: Job, states: Mapping[str, JobState], now: datetime) -> None:
    from batchcron.catalogue.upstream import waiting, waiting_text

    try:
        waits = waiting(job, states, now)
    except Exception:  # a state we cannot read must not hide the row
        return
    if not waits:
        return
    row.waiting = waiting_text(waits)
    failed = next((wait for wait in waits if wait.failed and wait.latest), None)
    if failed is not None and failed.latest is not None:
        row.waiting_href = run_href(failed.job, failed.latest.run_id)


def _local_time(moment: datetime, timezone: str) -> str:
    from batchcron.catalogue.schedule import zone

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
            states=states,
        )
        row.overdue = _overdue(catalogue, name, states, now)
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
        "phone_runs": PHONE_RUNS,
        "rendered_at": now.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "failing": sum(1 for row in rows if row.failing),
        "overdue": sum(1 for row in rows if row.overdue),
    }


def _overdue(catalogue: Catalogue, name: str, states: Mapping[str, JobState], now: datetime) -> str:
    """The job's overdue wait in words, or "" (a job without `after:` costs nothing)."""
    job = catalogue.jobs.get(name)
    if job is None or job.after is None or not job.enabled:
        return ""
    from batchcron.catalogue.upstream import also_waiting, overdue_wait

    try:
        overdue = overdue_wait(job, states, now)
        if overdue is None:
            return ""
        return overdue.text(now, also_waiting(catalogue, overdue, states, now))
    except Exception:  # a wait we cannot work out must not hide the row
        return ""


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
            "deadline_missed": row.deadline_missed or None,
            "enabled": row.enabled,
            "after": [up["job"] for up in row.upstream],
            "consecutive_failures": row.streak,
            "last_success_at": row.last_success or None,
            "latest_status": row.latest_status or None,
            "failing": row.failing,
            "waiting": row.waiting or None,
            "runs": [{"run_id": c.run_id, "status": c.status} for c in row.cells],
            "error": row.error or None,
            "overdue_wait": row.overdue or None,
        }
        for row in rows
    ]
