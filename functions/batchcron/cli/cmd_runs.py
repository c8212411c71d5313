"""Run commands: `submit` a run, read `runs` and `status`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from batchcron.cli import output
from batchcron.cli.app import UsageError, cli, connect, json_option, target_options
from batchcron.cli.target import TargetOptions


@cli.command()
@click.argument("job")
@click.option("--ref", help="Git ref (branch, tag or sha) to build; default: the default branch.")
@target_options
def submit(target: TargetOptions, job: str, ref: str | None) -> int:
    """Start a manual run of JOB now (the same submit path as schedules and pushes)."""
    from batchcron.catalogue import load_catalogue
    from batchcron.submit import Request, run_name

    entry = load_catalogue().get(job)
    if not entry.enabled:
        raise UsageError(f"job {job!r} is disabled in the catalogue (enabled: false)")
    connect(target)
    from batchcron.wiring import store, submitter

    if store().job_state(job).paused:
        output.err().print(f"[yellow]note:[/] {job} is paused; a manual run still starts")
    now = datetime.now(UTC)
    request = Request(
        job=entry, trigger="manual", run_id=run_name(job, now, precise=True), git_ref=ref
    )
    outcome = submitter().trigger(request)
    console = output.out()
    if outcome.action == "submitted":
        console.print(f"submitted {outcome.run_id} (Batch job {outcome.batch_job_id})")
        return 0
    if outcome.action == "queued":
        console.print(f"queued {outcome.run_id}: {outcome.reason}")
        return 0
    console.print(f"[red]{outcome.action}[/] {outcome.run_id}: {outcome.reason}")
    return 1


@cli.command()
@click.argument("job", required=False)
@click.option("--status", "status_filter", help="Only runs with this status (e.g. FAILED).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@json_option
@target_options
def runs(
    target: TargetOptions, job: str | None, status_filter: str | None, limit: int, as_json: bool
) -> int:
    """Run history, newest first (one JOB, or every job)."""
    from batchcron.catalogue import load_catalogue
    from batchcron.models import Status

    wanted: Status | None = None
    if status_filter:
        try:
            wanted = Status(status_filter.upper())
        except ValueError:
            raise UsageError(
                f"unknown status {status_filter!r} (one of {', '.join(s.value for s in Status)})"
            ) from None
    connect(target)
    from batchcron.wiring import store

    fetch = limit if wanted is None else min(limit * 20, 2000)
    found = store().runs_for_job(job, limit=fetch) if job else store().recent_runs(limit=fetch)
    if job and not found:
        # A job removed from the catalogue keeps its history; only a name never seen is wrong.
        load_catalogue().get(job)  # UnknownJobError with suggestions when not catalogued
    if wanted is not None:
        found = [run for run in found if run.status == wanted]
    found = found[:limit]
    if as_json:
        output.print_json([output.run_json(run) for run in found])
        return 0
    if not found:
        output.out().print("no runs" + (f" of {job}" if job else "") + " yet")
        return 0
    output.out().print(output.runs_table(found, with_job=job is None))
    return 0


@cli.command()
@json_option
@target_options
def status(target: TargetOptions, as_json: bool) -> int:
    """Latest run of every job; exit 1 when any job is failing."""
    from batchcron.catalogue import load_catalogue
    from batchcron.models import JobState

    catalogue = load_catalogue()
    connect(target)
    from batchcron.wiring import store

    runs_store = store()
    states = {state.job: state for state in runs_store.all_job_states()}
    names = list(catalogue.jobs) + sorted(set(states) - set(catalogue.jobs))
    rows: list[dict[str, Any]] = []
    for name in names:
        state = states.get(name) or JobState(job=name)
        latest = next(iter(runs_store.runs_for_job(name, limit=1)), None)
        failing = (latest is not None and latest.status in output.FAILED_STATUSES) or (
            state.consecutive_failures > 0
        )
        rows.append(
            {
                "job": name,
                "latest_run": latest.run_id if latest else None,
                "status": latest.status.value if latest else None,
                "trigger": latest.trigger if latest else None,
                "at": (latest.stopped_at or latest.started_at or latest.created_at)
                if latest
                else None,
                "exit_code": latest.exit_code if latest else None,
                "consecutive_failures": state.consecutive_failures,
                "last_success_at": state.last_success_at,
                "paused": state.paused,
                "failing": failing,
                "in_catalogue": name in catalogue.jobs,
            }
        )
    failing_jobs = [row["job"] for row in rows if row["failing"]]
    if as_json:
        output.print_json(rows)
        return 1 if failing_jobs else 0
    grid = output.table(
        "JOB", "LATEST RUN", "STATUS", "WHEN", "EXIT", "FAILURES IN A ROW", "LAST SUCCESS", "PAUSED"
    )
    for row in rows:
        streak = row["consecutive_failures"]
        grid.add_row(
            row["job"] + ("" if row["in_catalogue"] else " (not in catalogue)"),
            row["latest_run"] or "[dim]never run[/]",
            output.status_text(row["status"]),
            output.when(row["at"]),
            "-" if row["exit_code"] is None else str(row["exit_code"]),
            f"[red]{streak}[/]" if streak else "0",
            output.when(row["last_success_at"]),
            "[yellow]yes[/]" if row["paused"] else "no",
        )
    console = output.out()
    console.print(grid)
    if failing_jobs:
        console.print(f"[bold red]{len(failing_jobs)} failing:[/] {', '.join(failing_jobs)}")
        return 1
    console.print("[green]no job is failing[/]")
    return 0
