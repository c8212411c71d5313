"""Catalogue commands: `jobs` (the catalogue in words) and `validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from batchcron.adapters import terminal
from batchcron.adapters.tables import Cell, Column, Mode, render
from batchcron.catalogue.words import describe_schedule
from batchcron.cli.app import cli, connect, output_options, target_options
from batchcron.cli.target import TargetError, TargetOptions
from batchcron.models import utcnow
from batchcron.outcomes.cost import cost_text
from batchcron.outcomes.lag import lag_text

JOB_COLUMNS = (
    Column("JOB"),
    Column("REPOSITORY", priority=3),
    Column("SCRIPT", priority=6, free_text=True),
    Column("SCHEDULE"),
    Column("TIME ZONE", priority=4),
    Column("NEXT RUN", priority=1),
    Column("ON PUSH", priority=5),
    Column("AFTER", priority=2, free_text=True),
    Column("PAUSED", priority=2),
    Column("DEADLINE", priority=2),
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
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.cli.graph import after_text

    catalogue = load_catalogue()
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
        if not row["enabled"]:
            schedule += " [disabled]"
        cells.append(
            [
                row["job"],
                row["repository"],
                row["script"],
                schedule,
                row["timezone"],
                row["next_run_local"] or "-",
                ", ".join(row["on_push"]) if row["on_push"] else "-",
                after_text(row["after"], row["paused"]),
                "?" if row["paused"] is None else (paused_text(row) if row["paused"] else "no"),
                deadline_cell(row),
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
        "next_run": upcoming.isoformat() if upcoming else None,
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
    }


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
        ("schedule", schedule),
        ("next run", row["next_run_local"] or "-"),
        ("paused", "?" if row["paused"] is None else ("yes" if row["paused"] else "no")),
    ]
    lines += [(key, _value(value)) for key, value in resolved.items() if key != "name"]
    console.print(f"[bold]{job.name}[/]")
    for key, value in lines:
        console.print(f"  {key + ':':<27} {value}", markup=False, soft_wrap=True)
    return 0


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "-"
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
