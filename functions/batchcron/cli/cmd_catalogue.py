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

JOB_COLUMNS = (
    Column("JOB"),
    Column("STATUS"),
    Column("SCHEDULE", priority=1, free_text=True),
    Column("NEXT RUN", priority=2),
    Column("AFTER", priority=3, free_text=True),
    Column("ON PUSH", priority=4),
    Column("REPOSITORY", priority=5, free_text=True, min_width=20),
    Column("TIME ZONE", priority=6),
    Column("SCRIPT", priority=7, free_text=True),
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
    try:
        connect(target)
        from batchcron.wiring import store

        # Upstream jobs too: what an `after:` job waits for is in their states.
        names = {entry.name for entry in chosen}
        names.update(up for entry in chosen if entry.after for up in entry.after.jobs)
        states = store().job_states(sorted(names))
        paused = {name: state.paused for name, state in states.items()}
    except TargetError:
        paused = None
    rows = [job_row(entry, paused, states) for entry in chosen]
    if job:
        return _one_job(chosen[0], rows[0], mode)
    if mode == "json":
        terminal.print_json(rows)
        return 0
    cells: list[list[Cell]] = []
    for row in rows:
        schedule = f"{row['schedule_text']} ({row['schedule']})" if row["schedule"] else "-"
        cells.append(
            [
                row["job"],
                status_cell(row["status"]),
                schedule,
                row["next_run_local"] or "-",
                after_text(row["after"]),
                ", ".join(row["on_push"]) if row["on_push"] else "-",
                row["repository"],
                row["timezone"],
                row["script"],
            ]
        )
    render(JOB_COLUMNS, cells, mode=mode)
    if paused is None:
        terminal.err().print("[dim]paused: unknown (no stack or local mode to ask)[/]")
    return 0


def job_row(
    job: Any, paused: dict[str, bool] | None, states: dict[str, Any] | None = None
) -> dict[str, Any]:
    from batchcron.catalogue.schedule import next_slot, zone
    from batchcron.cli.graph import after_info

    now = utcnow()
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
