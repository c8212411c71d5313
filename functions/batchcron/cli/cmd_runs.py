"""Run commands: `submit` a run; read `runs`, `status` and one run (`show`)."""

from __future__ import annotations

import os
import time
from typing import Any

import click
from rich.text import Text

from batchcron.adapters import terminal
from batchcron.adapters.tables import Cell, Column, Mode, render
from batchcron.cli.app import (
    UsageError,
    cli,
    connect,
    find_run,
    output_options,
    parse_since,
    read_catalogue,
    target_options,
    watch_option,
    watching,
)
from batchcron.cli.target import TargetOptions
from batchcron.models import run_duration, run_json, utcnow


@cli.command()
@click.argument("job")
@click.option("--ref", help="Git ref (branch, tag or sha) to build; default: the default branch.")
@click.option(
    "--env",
    "env",
    multiple=True,
    metavar="NAME=VALUE",
    help="Extra container environment for this run (repeatable; secret-like names refused).",
)
@click.option("--wait", is_flag=True, help="Wait for the run to end; exit 0 if it succeeded.")
@click.option("--force", is_flag=True, help="Run even though JOB is paused (refused otherwise).")
@target_options
def submit(
    target: TargetOptions,
    job: str,
    ref: str | None,
    env: tuple[str, ...],
    wait: bool,
    force: bool,
) -> int:
    """Start a manual run of JOB now (the same submit path as schedules and pushes). A paused
    JOB is refused (exit 1) unless --force."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.catalogue.model import env_name_problem

    entry = load_catalogue().get(job)
    if not entry.enabled:
        raise UsageError(f"job {job!r} is disabled in the catalogue (enabled: false)")
    extra: dict[str, str] = {}
    for item in env:
        name, equals, value = item.partition("=")
        problem = env_name_problem(name) if equals else "expected NAME=VALUE"
        if problem:
            raise click.BadParameter(f"{item!r}: {problem}", param_hint="'--env'")
        extra[name] = value
    if extra and entry.concurrency == "queue":
        raise click.BadParameter(
            f"{job} has concurrency: queue, and a queued run starts later with the catalogue's "
            "environment",
            param_hint="'--env'",
        )
    connect(target)
    from batchcron.scheduling.control import ActionError
    from batchcron.wiring import control

    try:
        outcome = control().run_now(job, ref, environment=extra, force=force)
    except ActionError as exc:
        raise UsageError(str(exc)) from None
    console = terminal.out()
    if outcome.action == "refused":
        console.print(
            f"[red]refused[/]: {outcome.reason} (`batchcron resume {job}` first, or run it "
            "anyway with --force)",
            markup=True,
            highlight=False,
        )
        return 1
    if outcome.paused:
        terminal.err().print(f"[yellow]note:[/] {job} is paused; --force runs it anyway")
    if not outcome.ok:
        console.print(f"[red]{outcome.action}[/] {outcome.run_id}: {outcome.reason}")
        return 1
    console.print(outcome.describe(), markup=False)
    return wait_for_run(job, outcome.run_id) if wait else 0


WAIT_SECONDS = 3.0


def wait_for_run(job: str, run_id: str) -> int:
    """Print each status the run reaches until it ends: 0 if it succeeded, else 1."""
    from batchcron.models import Status
    from batchcron.wiring import store

    console = terminal.out()
    seen: str | None = None
    while True:
        run = store().get_run(job, run_id)
        if run is not None and run.status.value != seen:
            seen = run.status.value
            stamp = terminal.when(utcnow().isoformat())
            console.print(Text.assemble(stamp, "  ", terminal.status_text(run.status)))
        if run is not None and run.status.terminal:
            exit_text = "" if run.exit_code is None else f" (exit code {run.exit_code})"
            terminal.note(f"{run_id} ended {run.status.value}{exit_text}")
            return 0 if run.status == Status.SUCCEEDED else 1
        time.sleep(WAIT_SECONDS)


RUN_COLUMNS = (
    Column("RUN"),
    Column("JOB", priority=4),
    Column("TRIGGER", priority=3),
    Column("STATUS"),
    Column("CREATED", priority=2),
    Column("DURATION", priority=5),
    Column("EXIT", priority=1),
    Column("REASON", priority=6, free_text=True),
    Column("BATCH JOB", wide=True),
    Column("REF", wide=True),
)


def run_row(run: Any) -> list[Cell]:
    return [
        run.run_id,
        run.job,
        run.trigger,
        terminal.status_text(run.status),
        terminal.when(run.created_at),
        terminal.duration(run_duration(run)),
        "-" if run.exit_code is None else str(run.exit_code),
        "" if run.status == "SUCCEEDED" else (run.reason or ""),
        run.batch_job_id or "-",
        run.git_ref or "-",
    ]


@cli.command()
@click.argument("job", required=False)
@click.option("--status", "status_filter", help="Only runs with this status (e.g. FAILED).")
@click.option("--since", help="Only runs created since: an age (90m, 2h, 7d) or an ISO time.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@watch_option
@output_options
@target_options
def runs(
    target: TargetOptions,
    job: str | None,
    status_filter: str | None,
    since: str | None,
    limit: int,
    watch: bool,
    mode: Mode,
) -> int:
    """Run history, newest first (one JOB, or every job; a job removed from the catalogue
    keeps its history)."""
    from batchcron.models import Status, iso

    wanted: Status | None = None
    if status_filter:
        try:
            wanted = Status(status_filter.upper())
        except ValueError:
            raise click.BadParameter(
                f"{status_filter!r} is not a status (one of {', '.join(s.value for s in Status)})",
                param_hint="'--status'",
            ) from None
    if since:
        parse_since(since, utcnow(), option="--since")  # a typing error before any target
    # An age counts back from the target's clock (local mode started with --now has its own).
    connect(target)
    start = iso(parse_since(since, utcnow(), option="--since")) if since else None
    from batchcron.wiring import store

    def draw() -> int:
        filtered = wanted is not None or start is not None
        fetch = min(limit * 20, 2000) if filtered else limit
        found = store().runs_for_job(job, limit=fetch) if job else store().recent_runs(limit=fetch)
        if job and not found:
            # A job removed from the catalogue keeps its history; only a name never seen is wrong.
            read_catalogue().get(job)  # UnknownJobError with suggestions when not catalogued
        if wanted is not None:
            found = [run for run in found if run.status == wanted]
        if start is not None:
            found = [run for run in found if run.created_at >= start]
        found = found[:limit]
        if mode == "json":
            terminal.print_json([run_json(run) for run in found])
            return 0
        if not found:
            terminal.note(
                "no runs" + (f" of {job}" if job else "") + (" in that window" if start else " yet")
            )
            return 0
        columns = [c for c in RUN_COLUMNS if not (job and c.name == "JOB")]
        rows = [run_row(run) for run in found]
        if job:
            rows = [row[:1] + row[2:] for row in rows]
        render(columns, rows, mode=mode)
        return 0

    return watching(draw, watch)


STATUS_COLUMNS = (
    Column("JOB"),
    Column("STATUS"),
    Column("WHEN", priority=1),
    Column("DEADLINE", priority=1),
    Column("LATEST RUN", priority=2),
    Column("FAILURES", priority=3),
    Column("EXIT", priority=4),
    Column("LAST SUCCESS", priority=5),
    Column("PAUSED", priority=6),
)


@cli.command()
@watch_option
@output_options
@target_options
def status(target: TargetOptions, watch: bool, mode: Mode) -> int:
    """Latest run of every job; exit 1 when any job is failing (a cancelled run is not), is
    past a deadline not yet met, or an `after:` job has waited longer than its after.max_wait."""
    catalogue = read_catalogue()
    connect(target)

    def draw() -> int:
        rows = status_rows(catalogue)
        failing_jobs = [row["job"] for row in rows if row["failing"]]
        late_jobs = [row["job"] for row in rows if row["deadline_missed"]]
        overdue = [row["overdue_wait"] for row in rows if row.get("overdue_wait")]
        if mode == "json":
            terminal.print_json(rows)
            return 1 if failing_jobs or late_jobs or overdue else 0
        cells: list[list[Cell]] = []
        for row in rows:
            streak = row["consecutive_failures"]
            cells.append(
                [
                    row["job"] + ("" if row["in_catalogue"] else " (not in catalogue)"),
                    status_cell(row),
                    terminal.when(row["at"]),
                    Text(row["deadline_missed"], style="red") if row["deadline_missed"] else "-",
                    row["latest_run"] or Text("never run", style="dim"),
                    Text(str(streak), style="red") if streak else "0",
                    "-" if row["exit_code"] is None else str(row["exit_code"]),
                    terminal.when(row["last_success_at"]),
                    paused_text(row),
                ]
            )
        render(STATUS_COLUMNS, cells, mode=mode)
        if late_jobs:
            terminal.note(f"[bold red]{len(late_jobs)} past a deadline:[/] {', '.join(late_jobs)}")
        for text in overdue:
            terminal.note(f"[bold red]overdue:[/] {text}")
        if failing_jobs:
            terminal.note(f"[bold red]{len(failing_jobs)} failing:[/] {', '.join(failing_jobs)}")
            return 1
        if late_jobs or overdue:
            return 1
        terminal.note("[green]no job is failing[/]")
        return 0

    return watching(draw, watch)


def status_cell(row: dict[str, Any]) -> Cell:
    """The STATUS cell: `waiting: conservation-area FAILED 01:42` for a job held up by its
    upstreams, else the latest run's status (`never run`)."""
    if row["waiting"]:
        return Text(row["waiting"], style="bold red")
    if row["status"] is None:
        return Text("never run", style="dim")
    return terminal.status_text(row["status"])


def _waits(job: Any, states: Any, now: Any) -> tuple[Any, ...]:
    """What holds `job` up; nothing when its states cannot be read (the row still shows)."""
    from batchcron.catalogue.upstream import waiting

    try:
        return waiting(job, states, now)
    except Exception as exc:  # one job's odd state must not hide every other row
        terminal.err().print(f"{job.name}: cannot tell what it waits for: {exc}", markup=False)
        return ()


def _overdue(catalogue: Any, job: Any, states: Any, now: Any) -> str | None:
    """The job's overdue wait in words; nothing when its states cannot be read (the row still
    shows)."""
    from batchcron.catalogue.upstream import also_waiting, overdue_wait

    if job is None or not job.enabled:
        return None
    try:
        overdue = overdue_wait(job, states, now)
        return overdue.text(now, also_waiting(catalogue, overdue, states, now)) if overdue else None
    except Exception as exc:  # one job's odd state must not hide every other row
        terminal.err().print(
            f"{job.name}: cannot tell whether its wait is overdue: {exc}", markup=False
        )
        return None


def status_rows(catalogue: Any) -> list[dict[str, Any]]:
    from batchcron.catalogue.upstream import waiting_text
    from batchcron.models import JobState
    from batchcron.wiring import store

    runs_store = store()
    states = {state.job: state for state in runs_store.all_job_states()}
    now = utcnow()
    names = list(catalogue.jobs) + sorted(set(states) - set(catalogue.jobs))
    rows: list[dict[str, Any]] = []
    for name in names:
        state = states.get(name) or JobState(job=name)
        entry = catalogue.jobs.get(name)
        overdue_text = _overdue(catalogue, entry, states, now)
        latest = next(iter(runs_store.runs_for_job(name, limit=1)), None)
        failing = (latest is not None and latest.status in terminal.FAILED_STATUSES) or (
            state.consecutive_failures > 0
        )
        job = catalogue.jobs.get(name)
        active = latest is not None and not latest.status.terminal
        waits = () if job is None or active else _waits(job, states, now)
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
                "paused_by": state.paused_by,
                "paused_reason": state.paused_reason,
                "deadline_missed": missed_text(state.deadline_missed),
                "failing": failing,
                "overdue_wait": overdue_text,
                "in_catalogue": name in catalogue.jobs,
                "waiting": waiting_text(waits) if waits else None,
                "waiting_for_runs": [w.latest.run_id for w in waits if w.failed and w.latest],
            }
        )
    return rows


@cli.command()
@click.argument("run_id", metavar="RUN")
@output_options
@target_options
def show(target: TargetOptions, run_id: str, mode: Mode) -> int:
    """One run in full: trigger, ref and pusher, attempts, reason, exit code, alert, log link."""
    from batchcron.outcomes.alerting import batch_job_url, log_stream_url
    from batchcron.settings import settings

    resolved = connect(target)
    run = find_run(run_id)
    region = resolved.region or os.environ.get("AWS_REGION") or "eu-west-2"
    group = settings().job_log_group
    if mode == "json":
        terminal.print_json({**run_json(run), **_cost_and_timeline_json(run, region)})
        return 0
    if mode == "name":
        terminal.out().print(run.run_id, markup=False)
        return 0
    fields: list[tuple[str, Cell]] = [
        ("Run", run.run_id),
        ("Job", run.job),
        ("Status", terminal.status_text(run.status)),
        ("Trigger", run.trigger + (f", slot {terminal.when(run.slot)}" if run.slot else "")),
    ]
    for upstream in run.upstream_runs:  # the runs that completed the cycle this run started
        fields.append(
            ("Upstream run", Text.assemble(upstream, (f"  batchcron show {upstream}", "dim")))
        )
    if run.repository:
        fields.append(("Repository", run.repository))
    if run.git_ref:
        fields.append(("Ref", run.git_ref))
    if run.pusher:
        fields.append(("Pusher", run.pusher))
    if run.compare_url:
        fields.append(("Compare", run.compare_url))
    fields += [
        ("Created", terminal.when(run.created_at)),
        ("Started", terminal.when(run.started_at)),
        ("Stopped", terminal.when(run.stopped_at)),
        ("Duration", terminal.duration(run_duration(run))),
        ("Exit code", "-" if run.exit_code is None else str(run.exit_code)),
    ]
    if run.reason:
        fields.append(("Reason", run.reason))
    if run.specific_cause:
        fields.append(("Cause", run.specific_cause))
    children = run.children
    if children is not None:
        fields.append(
            (
                "Children",
                f"{children.succeeded} succeeded, {children.failed} failed of {children.total}"
                + (
                    f" (failed: {', '.join(map(str, children.failed_indexes))})"
                    if children.failed
                    else ""
                ),
            )
        )
    done = len(run.attempts)
    fields.append(("Attempts", f"{done} of {run.max_attempts or max(done, 1)}"))
    for number, attempt in enumerate(run.attempts, 1):
        exit_text = "-" if attempt.exit_code is None else str(attempt.exit_code)
        fields.append(
            (
                f"  attempt {number}",
                f"exit {exit_text}, {terminal.when(attempt.started_at)} -> "
                f"{terminal.when(attempt.stopped_at)}"
                + (f": {attempt.reason}" if attempt.reason else ""),
            )
        )
    fields += _cost_and_timeline(run, region)
    if run.alert is not None:
        sent = f", sent {terminal.when(run.alert.sent_at)}" if run.alert.sent_at else ""
        fields.append(("Alert", f"{run.alert.kind} ({run.alert.state}{sent})"))
    else:
        fields.append(("Alert", "none"))
    if run.batch_job_id:
        fields.append(("Batch job", run.batch_job_id))
        if not resolved.local:
            fields.append(("Batch console", batch_job_url(region, run.batch_job_id)))
    if run.log_stream:
        fields.append(("Log stream", run.log_stream))
        if group and not resolved.local:
            fields.append(("Logs console", log_stream_url(region, group, run.log_stream)))
        fields.append(("Logs", f"batchcron logs {run.run_id}"))
    console = terminal.out()
    for label, value in fields:
        line = Text.assemble((f"{label + ':':<15}", "bold"), value)
        console.print(line, soft_wrap=True)
    return 0


def _cost_and_timeline(run: Any, region: str) -> list[tuple[str, Cell]]:
    """`show`'s cost estimate, start lag and the run's timeline (slot -> ... -> finished)."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.outcomes.cost import catalogue_cost, cost_text
    from batchcron.outcomes.lag import lag_text, start_lag, timeline

    found = catalogue_cost(run, load_catalogue(), region, now=utcnow())
    rows: list[tuple[str, Cell]] = []
    if found is not None:
        so_far = "" if run.finished else ", so far"
        rows.append(
            (
                "Cost",
                f"{cost_text(found.usd)} (estimate{so_far}: {found.attempts} attempt(s), "
                f"{terminal.duration(found.seconds)} at {found.vcpus:g} vCPU / "
                f"{found.memory_gb:g} GB, {found.rate.source})",
            )
        )
    else:
        rows.append(("Cost", "-"))
    rows.append(("Start lag", lag_text(start_lag(run))))
    steps = timeline(run)
    for index, (step, at) in enumerate(steps):
        gap = ""
        if index:
            from batchcron.models import parse_time

            seconds = (parse_time(at) - parse_time(steps[index - 1][1])).total_seconds()
            gap = f"  (+{lag_text(max(seconds, 0))})"
        rows.append(("Timeline" if index == 0 else "", f"{step:<10} {terminal.when(at)}{gap}"))
    return rows


def _cost_and_timeline_json(run: Any, region: str) -> dict[str, Any]:
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.outcomes.cost import catalogue_cost
    from batchcron.outcomes.lag import start_lag, timeline

    found = catalogue_cost(run, load_catalogue(), region, now=utcnow())
    return {
        "cost": found.as_json() if found is not None else None,
        "start_lag_seconds": start_lag(run),
        "timeline": [{"step": step, "at": at} for step, at in timeline(run)],
    }


def missed_text(due: str | None) -> str | None:
    """`missed 2026-12-01 07:00 UTC` for a job past a deadline not yet met."""
    if not due:
        return None
    from batchcron.models import parse_time

    return f"missed {parse_time(due):%Y-%m-%d %H:%M} UTC"


def paused_text(row: dict[str, Any]) -> Cell:
    """`no`, or `yes` with who paused it and why (`yes (batchcron: 5 failures in a row ...)`)."""
    if not row.get("paused"):
        return "no"
    who = row.get("paused_by")
    why = row.get("paused_reason")
    detail = ": ".join(part for part in (who, why) if part)
    return Text(f"yes ({detail})" if detail else "yes", style="yellow")
