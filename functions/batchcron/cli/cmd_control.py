"""Commands that act on jobs and runs: `pause`, `resume`, `backfill`, `cancel`."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import click

from batchcron.adapters import terminal
from batchcron.adapters.tables import Cell, Column, render
from batchcron.cli.app import UsageError, cli, connect, find_run, parse_since, target_options
from batchcron.cli.target import TargetOptions
from batchcron.models import utcnow


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
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.wiring import control

    load_catalogue().get(job)
    connect(target)
    terminal.out().print(control().set_paused(job, paused, who=_who()))
    return 0


CONFIRM_ABOVE = 10
BACKFILL_COLUMNS = (
    Column("RUN"),
    Column("SLOT", priority=2),
    Column("RESULT"),
    Column("BATCH JOB", priority=3),
    Column("REASON", priority=4, free_text=True),
)


@cli.command()
@click.argument("job")
@click.option(
    "--since",
    required=True,
    help="Start of the window, included: an ISO date or time (2025-01-31, 2025-01-31T06:00Z) "
    "or an age (90m, 24h, 7d).",
)
@click.option("--until", help="End of the window, included (default: now); same forms.")
@click.option("--dry-run", is_flag=True, help="List the slots and what would happen; run nothing.")
@click.option("--yes", "-y", is_flag=True, help=f"Run more than {CONFIRM_ABOVE} slots unasked.")
@target_options
def backfill(
    target: TargetOptions,
    job: str,
    since: str,
    until: str | None,
    dry_run: bool,
    yes: bool,
) -> int:
    """Run each of JOB's slots in [--since, --until] once, with trigger `backfill`. A slot
    that already ran (or is running) is left alone: the scheduler and backfill claim the same
    run id, so each slot runs exactly once."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.catalogue.schedule import slots_between
    from batchcron.scheduling.dispatch import TickFailedError
    from batchcron.scheduling.submit import run_name

    entry = load_catalogue().get(job)
    if not entry.schedule:
        raise UsageError(f"job {job!r} has no schedule: nothing to backfill (use submit)")
    if not entry.enabled:
        raise UsageError(f"job {job!r} is disabled in the catalogue (enabled: false)")
    parse_since(since, utcnow(), option="--since")  # a typing error before any target
    if until:
        parse_since(until, utcnow(), option="--until")
    # The window counts from the target's clock (local mode started with --now has its own).
    connect(target)
    now = utcnow()
    start = parse_since(since, now, option="--since")
    end = parse_since(until, now, option="--until") if until else now
    if start >= now:
        raise click.BadParameter(f"{since!r} is not in the past", param_hint="'--since'")
    if end > now:
        raise click.BadParameter(f"{until!r} is in the future", param_hint="'--until'")
    if end < start:
        raise click.BadParameter(f"{until!r} is before --since", param_hint="'--until'")
    # Slots are whole minutes: one second earlier makes the window closed at its start.
    after = start - timedelta(seconds=1)
    slots = slots_between(entry.schedule, entry.timezone, after, end)
    window = f"{terminal.when(start.isoformat())} .. {terminal.when(end.isoformat())}"
    if not slots:
        terminal.note(f"{job}: no slots in {window}")
        return 0
    from batchcron.wiring import dispatcher, store

    if store().job_state(job).paused:
        raise UsageError(f"job {job!r} is paused: `batchcron resume {job}` first")
    existing = {slot: store().get_run(job, run_name(job, slot, precise=False)) for slot in slots}
    fresh = [slot for slot, run in existing.items() if run is None]
    if dry_run:
        rows: list[list[Cell]] = []
        for slot, run in existing.items():
            rows.append(
                [
                    run_name(job, slot, precise=False),
                    terminal.when(slot.isoformat()),
                    "would run" if run is None else _already(run),
                    (run.batch_job_id if run else None) or "-",
                    "",
                ]
            )
        render(BACKFILL_COLUMNS, rows)
        terminal.note(f"dry run: {len(fresh)} of {len(slots)} slot(s) in {window} would run")
        return 0
    if len(fresh) > CONFIRM_ABOVE and not yes:
        question = f"backfill {len(fresh)} runs of {job} ({window})?"
        if not sys.stdin.isatty():
            raise UsageError(f"{question} pass --yes to confirm (or --dry-run to list them)")
        if not click.confirm(question, default=False, err=True):
            terminal.note("nothing run")
            return 1
    try:
        result = dispatcher().tick(end, replay_from=after, only_job=job, trigger="backfill")
    except TickFailedError as exc:
        terminal.err().print(f"[bold red]some slots could not be submitted:[/] {exc}")
        return 1
    slot_of = {run_name(job, slot, precise=False): slot for slot in slots}
    rows = []
    for outcome in (o for o in result.outcomes if o.job == job):
        result_text: str = outcome.action
        if outcome.action == "duplicate":
            result_text = _already(store().get_run(job, outcome.run_id))
        slot_time = slot_of.get(outcome.run_id)
        rows.append(
            [
                outcome.run_id,
                terminal.when(slot_time.isoformat()) if slot_time else "-",
                result_text,
                outcome.batch_job_id or "-",
                outcome.reason or "",
            ]
        )
    render(BACKFILL_COLUMNS, rows)
    return 0


def _already(run: Any) -> str:
    """A slot's run that exists: still going, or over."""
    if run is None:
        return "already ran"
    if run.status.terminal:
        return f"already ran ({run.status.value})"
    return f"active ({run.status.value})"


@cli.command()
@click.argument("run_id", metavar="RUN")
@target_options
def cancel(target: TargetOptions, run_id: str) -> int:
    """Terminate RUN's Batch job (a queued run is dropped instead)."""
    from batchcron.wiring import control

    connect(target)
    result = control().cancel(find_run(run_id), _who())
    terminal.out().print(result.message)
    return 0 if result.ok else 1


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "an operator"
