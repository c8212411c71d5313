"""Catalogue commands: `jobs` (the catalogue in words) and `validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from batchcron.adapters import terminal
from batchcron.adapters.tables import Cell, Column, Mode, render
from batchcron.catalogue.words import describe_schedule
from batchcron.cli.app import cli, connect, output_options, read_catalogue, target_options
from batchcron.cli.target import TargetError, TargetOptions
from batchcron.models import iso, utcnow
from batchcron.outcomes.cost import cost_text
from batchcron.outcomes.lag import lag_text

JOB_COLUMNS = (
    Column("JOB"),
    Column("STATUS"),
    Column("SCHEDULE", priority=1, free_text=True),
    Column("NEXT RUN", priority=2),
    Column("DEADLINE", priority=3),
    Column("AFTER", priority=3, free_text=True),
    Column("ON PUSH", priority=4),
    Column("REPOSITORY", priority=5, free_text=True, min_width=20),
    Column("TIME ZONE", priority=6),
    Column("SCRIPT", priority=7, free_text=True),
    Column("COST 30D", wide=True),
    Column("LAG P50/P95", wide=True),
)


@cli.command()
@click.argument("job", required=False)
@output_options
@target_options
def jobs(target: TargetOptions, job: str | None, mode: Mode) -> int:
    """The catalogue: schedules in words, next run (in the job's zone), push triggers, paused.
    With JOB: that job's every field, defaults applied."""
    from batchcron.cli.graph import after_text

    catalogue = read_catalogue()
    chosen = [catalogue.get(job)] if job else list(catalogue.jobs.values())
    paused: dict[str, bool] | None = None
    states: dict[str, Any] | None = None
    missed: dict[str, Any] = {}
    figures: dict[str, dict[str, Any]] = {}
    try:
        resolved = connect(target)
        from batchcron.wiring import store

        # Upstream jobs too: what an `after:` job waits for is in their states.
        names = {entry.name for entry in chosen}
        names.update(up for entry in chosen if entry.after for up in entry.after.jobs)
        states = store().job_states(sorted(names))
        paused = {name: state.paused for name, state in states.items()}
        missed = {name: state.deadline_missed for name, state in states.items()}
        if mode in ("wide", "json") or job:
            figures = run_figures(catalogue, chosen, resolved.region)
    except TargetError:
        paused = None
    rows = [job_row(entry, paused, states) for entry in chosen]
    for row in rows:
        row["deadline_missed"] = missed_text(missed.get(row["job"]))
        row.update(figures.get(row["job"], {}))
    late = 1 if any(row["deadline_missed"] for row in rows) else 0
    if job:
        return _one_job(chosen[0], rows[0], mode) or late
    if mode == "json":
        terminal.print_json(rows)
        return late
    cells: list[list[Cell]] = []
    for row in rows:
        schedule = f"{row['schedule_text']} ({row['schedule']})" if row["schedule"] else "-"
        cells.append(
            [
                row["job"],
                paused_status(row) if row["status"] == "paused" else status_cell(row["status"]),
                schedule,
                row["next_run_local"] or "-",
                deadline_cell(row),
                after_text(row["after"]),
                ", ".join(row["on_push"]) if row["on_push"] else "-",
                row["repository"],
                row["timezone"],
                row["script"],
                cost_text(row.get("cost_30d_usd")),
                f"{lag_text(row.get('lag_p50_seconds'))} / {lag_text(row.get('lag_p95_seconds'))}"
                if row.get("lag_runs")
                else "-",
            ]
        )
    render(JOB_COLUMNS, cells, mode=mode)
    if paused is None:
        terminal.err().print("[dim]paused: unknown (no stack or local mode to ask)[/]")
    if late:
        late_names = ", ".join(row["job"] for row in rows if row["deadline_missed"])
        terminal.note(f"[bold red]past a deadline:[/] {late_names}")
    return late


def deadline_cell(row: dict[str, Any]) -> Cell:
    """`07:00`, `90 min`, with `MISSED` while a deadline is missed and not yet met."""
    from rich.text import Text

    shown = row["deadline"] or (
        f"{row['deadline_minutes']} min" if row["deadline_minutes"] else "-"
    )
    if row.get("deadline_missed"):
        return Text(f"{shown} MISSED", style="bold red")
    return shown


def missed_text(items: str | None) -> str | None:
    from batchcron.cli.cmd_runs import missed_text as text

    return text(items)


def paused_text(row: dict[str, Any]) -> Cell:
    from batchcron.cli.cmd_runs import paused_text as text

    return text(row)


def paused_status(row: dict[str, Any]) -> Cell:
    """The STATUS of a paused job, with who paused it and why when known."""
    from rich.text import Text

    detail = ": ".join(part for part in (row.get("paused_by"), row.get("paused_reason")) if part)
    return Text(f"paused ({detail})" if detail else "paused", style="yellow")


def run_figures(catalogue: Any, jobs: list[Any], region: str | None) -> dict[str, dict[str, Any]]:
    """Per job: cost this month and over the last 30 days, p50/p95 start lag over the last 25
    runs (one query per job)."""
    import os
    from datetime import timedelta

    from batchcron.models import iso
    from batchcron.outcomes.cost import catalogue_cost
    from batchcron.outcomes.lag import lag_percentiles
    from batchcron.settings import settings
    from batchcron.wiring import store

    where = region or os.environ.get("AWS_REGION") or settings().region
    now = utcnow()
    month = iso(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)) or ""
    thirty = iso(now - timedelta(days=30)) or ""
    found: dict[str, dict[str, Any]] = {}
    for job in jobs:
        runs = store().runs_for_job(job.name, limit=500)
        costs = [(run, catalogue_cost(run, catalogue, where)) for run in runs]
        lag = lag_percentiles(runs)
        found[job.name] = {
            "cost_30d_usd": round(sum(c.usd for r, c in costs if c and r.created_at >= thirty), 6),
            "cost_month_usd": round(sum(c.usd for r, c in costs if c and r.created_at >= month), 6),
            "lag_p50_seconds": lag.p50 if lag else None,
            "lag_p95_seconds": lag.p95 if lag else None,
            "lag_runs": lag.runs if lag else 0,
        }
    return found


def job_row(
    job: Any, paused: dict[str, bool] | None, states: dict[str, Any] | None = None
) -> dict[str, Any]:
    from batchcron.catalogue.schedule import next_slot, zone
    from batchcron.cli.graph import after_info

    now = utcnow()
    state = (states or {}).get(job.name)
    upcoming = next_slot(job.schedule, job.timezone, now) if job.schedule else None
    upcoming = upcoming if job.enabled else None
    return {
        "job": job.name,
        "repository": job.repository,
        "script": job.script,
        "schedule": job.schedule,
        "schedule_text": describe_schedule(job.schedule)
        if job.schedule or not job.after
        else "after upstream jobs",
        "timezone": job.timezone,
        "next_run": iso(upcoming),
        "next_run_local": upcoming.astimezone(zone(job.timezone)).strftime("%Y-%m-%d %H:%M %Z")
        if upcoming
        else None,
        "on_push": list(job.on_push.branches) if job.on_push else None,
        "enabled": job.enabled,
        "paused": paused.get(job.name) if paused is not None else None,
        "after": after_info(job, states, now),
        "deadline": job.deadline,
        "deadline_minutes": job.deadline_minutes,
        "paused_by": state.paused_by if state is not None else None,
        "paused_reason": state.paused_reason if state is not None else None,
        "status": job_status(job, paused, states, now),
    }


def job_status(
    job: Any, paused: dict[str, bool] | None, states: dict[str, Any] | None, now: Any
) -> str:
    """A job's state in a word or a line: disabled, paused, waiting: …, scheduled, on push,
    after upstream jobs; `?` when the run store could not be read."""
    from batchcron.catalogue.upstream import waiting, waiting_text

    if not job.enabled:
        return "disabled"
    if paused is None or states is None:
        return "?"
    if paused.get(job.name):
        return "paused"
    try:
        waits = waiting(job, states, now)
    except Exception:  # one job's odd state must not hide the listing
        return "?"
    if waits:
        return waiting_text(waits)
    if job.schedule:
        return "scheduled"
    return "after upstream jobs" if job.after else "on push" if job.on_push else "manual"


def status_cell(text: str) -> Cell:
    from rich.text import Text

    style = {"paused": "yellow", "disabled": "dim", "?": "dim"}.get(text, "")
    return Text(text, style="bold red" if text.startswith("waiting") else style)


def _one_job(job: Any, row: dict[str, Any], mode: Mode) -> int:
    """Every field of one job as the catalogue resolves it (defaults applied)."""
    resolved = job.model_dump(mode="json")
    if mode == "json":
        terminal.print_json({**resolved, **row})
        return 0
    if mode == "name":
        terminal.out().print(job.name, markup=False)
        return 0
    console = terminal.out()
    schedule = (
        f"{row['schedule_text']} ({row['schedule']}, {job.timezone})" if job.schedule else "-"
    )
    lines = [
        ("status", row["status"]),
        ("schedule", schedule),
        ("next run", row["next_run_local"] or "-"),
        ("paused", "?" if row["paused"] is None else ("yes" if row["paused"] else "no")),
    ]
    after = row["after"] or {}
    for item in after.get("waiting") or []:
        lines.append(("waiting for", item))
    shown = {"name", "schedule", "timezone"}  # the schedule line says both
    lines += [(key, _value(value)) for key, value in resolved.items() if key not in shown]
    console.print(f"[bold]{job.name}[/]")
    for key, value in lines:
        console.print(f"  {key + ':':<27} {value}", markup=False, soft_wrap=True)
    return 0


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # `vcpus: 2`, as the catalogue says it, not 2.0
    return "-" if value is None else str(value)


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def validate(file: Path | None) -> int:
    """Check a catalogue (default: JOBS_FILE or functions/jobs.yaml); every error, then exit 1."""
    from batchcron.catalogue.errors import CatalogueError
    from batchcron.catalogue.loading import jobs_file, load_catalogue

    path = file or jobs_file()
    try:
        catalogue = load_catalogue(path)
    except CatalogueError as exc:
        console = terminal.err()
        shown = terminal.shown_path(path)
        console.print(f"{shown}: {len(exc.problems)} error(s)", style="bold red", markup=False)
        for problem in exc.problems:
            console.print(f"  {exc.source}: {problem}", soft_wrap=True, markup=False)
        return 1
    terminal.out().print(
        f"{terminal.shown_path(path)}: {len(catalogue.jobs)} job(s), valid", markup=False
    )
    return 0
