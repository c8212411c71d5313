"""Catalogue commands: `jobs` (the catalogue in words) and `validate`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from batchcron.cli import output
from batchcron.cli.app import cli, connect, json_option, target_options
from batchcron.cli.target import TargetError, TargetOptions


@cli.command()
@json_option
@target_options
def jobs(target: TargetOptions, as_json: bool) -> int:
    """The catalogue: schedules in words, next run, push triggers, paused."""
    from batchcron.catalogue import load_catalogue
    from batchcron.schedule import next_slot, zone

    catalogue = load_catalogue()
    paused: dict[str, bool] | None = None
    try:
        connect(target)
        from batchcron.wiring import store

        states = store().job_states(list(catalogue.jobs))
        paused = {name: state.paused for name, state in states.items()}
    except TargetError:
        paused = None
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for job in catalogue.jobs.values():
        upcoming = next_slot(job.schedule, job.timezone, now) if job.schedule else None
        rows.append(
            {
                "job": job.name,
                "repository": job.repository,
                "script": job.script,
                "schedule": job.schedule,
                "schedule_text": describe_schedule(job.schedule),
                "timezone": job.timezone,
                "next_run": upcoming.isoformat() if upcoming and job.enabled else None,
                "next_run_local": upcoming.astimezone(zone(job.timezone)).strftime(
                    "%Y-%m-%d %H:%M %Z"
                )
                if upcoming and job.enabled
                else None,
                "on_push": list(job.on_push.branches) if job.on_push else None,
                "enabled": job.enabled,
                "paused": paused.get(job.name) if paused is not None else None,
            }
        )
    if as_json:
        output.print_json(rows)
        return 0
    grid = output.table(
        "JOB", "REPOSITORY", "SCRIPT", "SCHEDULE", "TIME ZONE", "NEXT RUN", "ON PUSH", "PAUSED"
    )
    for row in rows:
        schedule = f"{row['schedule_text']} ({row['schedule']})" if row["schedule"] else "-"
        if not row["enabled"]:
            schedule += " [disabled]"
        grid.add_row(
            row["job"],
            row["repository"],
            row["script"] if len(row["script"]) < 40 else row["script"][:37] + "...",
            schedule,
            row["timezone"],
            row["next_run_local"] or "-",
            ", ".join(row["on_push"]) if row["on_push"] else "-",
            "?" if row["paused"] is None else ("[yellow]yes[/]" if row["paused"] else "no"),
        )
    output.out().print(grid)
    if paused is None:
        output.err().print("[dim]paused: unknown (no stack or local mode to ask)[/]")
    return 0


def describe_schedule(expr: str | None) -> str:
    if not expr:
        return "push/manual only"
    try:
        from cron_descriptor import ExpressionDescriptor, Options

        options = Options()
        options.use_24hour_time_format = True
        return str(ExpressionDescriptor(expr, options).get_description())
    except Exception:  # a description is a nicety; the expression itself was validated
        return expr


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def validate(file: Path | None) -> int:
    """Check a catalogue (default: JOBS_FILE or functions/jobs.yaml); every error, then exit 1."""
    from batchcron.catalogue import CatalogueError, jobs_file, load_catalogue

    path = file or jobs_file()
    try:
        catalogue = load_catalogue(path)
    except CatalogueError as exc:
        console = output.err()
        console.print(f"[bold red]{path}: {len(exc.problems)} error(s)[/]")
        for problem in exc.problems:
            console.print(f"  {exc.source}: {problem}", soft_wrap=True, markup=False)
        return 1
    output.out().print(f"{path}: {len(catalogue.jobs)} job(s), valid")
    return 0
