"""`local`: all of batchcron on this machine."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from batchcron.cli.app import cli, parse_since

PORT = click.IntRange(0, 65535)


@cli.command()
@click.option(
    "--port", default=3000, show_default=True, type=PORT, help="Webhook port (0: any free port)."
)
@click.option(
    "--aws-port",
    default=5000,
    show_default=True,
    type=PORT,
    help="Embedded AWS port (0: any free port).",
)
@click.option("--replay", help="First run every slot of this last period, e.g. 24h.")
@click.option(
    "--fail",
    "fail",
    multiple=True,
    metavar="JOB[:N]",
    help="Make JOB's first N runs (default: all) fail. Repeatable.",
)
@click.option(
    "--duration",
    type=click.FloatRange(0, min_open=True),
    help="Stop after this many seconds and print a summary.",
)
@click.option("--webhook-secret", default="local-webhook-secret", show_default=True)
@click.option(
    "--pace",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.0, 60.0),
    help="Seconds between a job's state changes.",
)
@click.option("--tick-seconds", default=60.0, hidden=True, type=click.FloatRange(0.5, 3600))
@click.option("--verbose", "-v", is_flag=True, help="Show the functions' own log lines.")
def local(
    port: int,
    aws_port: int,
    replay: str | None,
    fail: tuple[str, ...],
    duration: float | None,
    webhook_secret: str,
    pace: float,
    tick_seconds: float,
    verbose: bool,
) -> int:
    """Run all of batchcron on this machine: embedded AWS, webhook, schedules, Slack sink."""
    from batchcron.catalogue.errors import UnknownJobError
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.local import LocalOptions, run_local

    catalogue = load_catalogue()
    failures: dict[str, int | None] = {}
    for spec in fail:
        name, colon, count = spec.partition(":")
        if name not in catalogue.jobs:
            hint = str(UnknownJobError(name, list(catalogue.jobs)))
            raise click.BadParameter(f"{spec!r}: {hint}", param_hint="'--fail'")
        if colon and not (count.isdigit() and int(count) >= 1):
            raise click.BadParameter(
                f"{spec!r}: expected JOB or JOB:N with N a whole number of runs, 1 or more",
                param_hint="'--fail'",
            )
        failures[name] = int(count) if count else None
    replay_from = None
    if replay:
        now = datetime.now(UTC)
        replay_from = parse_since(replay, now, option="--replay")
        if replay_from >= now:
            raise click.BadParameter(f"{replay!r} is not in the past", param_hint="'--replay'")
    from batchcron.cli.ui import local_page

    options = LocalOptions(
        port=port,
        aws_port=aws_port,
        replay_from=replay_from,
        failures=failures,
        duration=duration,
        webhook_secret=webhook_secret,
        pace=pace,
        tick_seconds=tick_seconds,
        verbose=verbose,
        status_page=local_page,
    )
    return run_local(options)
