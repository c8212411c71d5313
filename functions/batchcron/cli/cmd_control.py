"""Commands that act on jobs and runs: `pause`, `resume`, `backfill`, `cancel`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from batchcron.cli import output
from batchcron.cli.app import UsageError, cli, connect, find_run, parse_since, target_options
from batchcron.cli.target import TargetOptions


@cli.command()
@click.argument("job")
@target_options
def pause(target: TargetOptions, job: str) -> int:
    """Stop JOB's schedule (and pushes) until `resume`; the next tick honours it."""
    return _set_paused(target, job, True)


@cli.command()
@click.argument("job")
@target_options
def resume(target: TargetOptions, job: str) -> int:
    """Let a paused JOB run on its schedule again (missed slots are not replayed; see backfill)."""
    return _set_paused(target, job, False)


def _set_paused(target: TargetOptions, job: str, paused: bool) -> int:
    from batchcron.catalogue import load_catalogue
    from batchcron.models import iso

    load_catalogue().get(job)
    connect(target)
    from batchcron.wiring import store

    changes: dict[str, Any] = {"paused": paused, "paused_at": iso(datetime.now(UTC))}
    if not paused:
        changes["paused_at"] = None
    store().update_job_state(job, changes)
    output.out().print(f"{job} {'paused' if paused else 'resumed'}")
    return 0


@cli.command()
@click.argument("job")
@click.option(
    "--since",
    required=True,
    help="Start of the window: ISO time (2025-01-31T00:00Z) or an age (90m, 24h, 7d).",
)
@target_options
def backfill(target: TargetOptions, job: str, since: str) -> int:
    """Run each of JOB's slots since --since once (slots that already ran are left alone)."""
    from batchcron.catalogue import load_catalogue
    from batchcron.dispatch import TickFailedError

    entry = load_catalogue().get(job)
    if not entry.schedule:
        raise UsageError(f"job {job!r} has no schedule: nothing to backfill (use submit)")
    if not entry.enabled:
        raise UsageError(f"job {job!r} is disabled in the catalogue (enabled: false)")
    now = datetime.now(UTC)
    start = parse_since(since, now)
    if start >= now:
        raise UsageError(f"--since {since} is not in the past")
    connect(target)
    from batchcron.wiring import dispatcher, store

    if store().job_state(job).paused:
        raise UsageError(f"job {job!r} is paused: `batchcron resume {job}` first")
    try:
        result = dispatcher().tick(now, replay_from=start, only_job=job)
    except TickFailedError as exc:
        output.err().print(f"[bold red]some slots could not be submitted:[/] {exc}")
        return 1
    mine = [outcome for outcome in result.outcomes if outcome.job == job]
    console = output.out()
    if not mine:
        console.print(f"{job}: no slots between {start.isoformat()} and {now.isoformat()}")
        return 0
    grid = output.table("RUN", "RESULT", "BATCH JOB", "REASON")
    for outcome in mine:
        label = "already ran" if outcome.action == "duplicate" else outcome.action
        grid.add_row(outcome.run_id, label, outcome.batch_job_id or "-", outcome.reason or "")
    console.print(grid)
    return 0


@cli.command()
@click.argument("run_id", metavar="RUN")
@target_options
def cancel(target: TargetOptions, run_id: str) -> int:
    """Terminate RUN's Batch job (a queued run is dropped instead)."""
    import contextlib

    from batchcron.batch import Batch
    from batchcron.jobstate import CANCEL_REASON
    from batchcron.models import Status
    from batchcron.store import ConflictError

    connect(target)
    from batchcron.wiring import store

    runs_store = store()
    run = find_run(run_id)
    console = output.out()
    if run.status == Status.QUEUED:
        runs_store.update_run(
            run.job,
            run.run_id,
            {"status": Status.SUPERSEDED, "reason": "cancelled before it started"},
            expect=[Status.QUEUED],
            outbox_at=None,
        )
        with contextlib.suppress(ConflictError):
            runs_store.update_job_state(
                run.job,
                {"pending_run_id": None},
                condition="#pending_run_id = :run",
                values={":run": run.run_id},
            )
        console.print(f"dropped queued run {run.run_id}")
        return 0
    if run.status.terminal or not run.batch_job_id:
        console.print(f"{run.run_id} is {run.status.value}: nothing to cancel")
        return 1
    Batch().terminate(run.batch_job_id, f"{CANCEL_REASON} by {_who()}")
    console.print(
        f"cancel requested for {run.run_id} (Batch job {run.batch_job_id}); "
        "its CANCELLED state arrives shortly"
    )
    return 0


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "an operator"
