"""`local`: all of batchcron on this machine."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from batchcron.cli.app import cli, github_host, parse_since
from batchcron.models import utcnow

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
@click.option(
    "--now",
    "now_text",
    metavar="TIME",
    help="Start local mode's clock at this instant (ISO 8601 with Z or an offset, e.g. "
    "2027-03-01T00:20:00Z); it then runs at real speed. Past or future.",
)
@click.option(
    "--replay", help="First run every slot of this last period (e.g. 24h) before the clock's now."
)
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
    "--github-host",
    "github_hosts",
    multiple=True,
    callback=github_host,
    help="A host a push's URLs may name (GITHUB_HOSTS; repeatable; default github.com).",
)
@click.option(
    "--pace",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.0, 60.0),
    help="Seconds between a job's state changes.",
)
@click.option("--tick-seconds", default=60.0, hidden=True, type=click.FloatRange(0.5, 3600))
@click.option("--verbose", "-v", is_flag=True, help="Show the functions' own log lines.")
@click.option(
    "--slack-app",
    is_flag=True,
    help="Slack app mode against the local sink: threads, and buttons on POST /slack/actions.",
)
def local(
    port: int,
    aws_port: int,
    now_text: str | None,
    replay: str | None,
    fail: tuple[str, ...],
    duration: float | None,
    webhook_secret: str,
    github_hosts: tuple[str, ...],
    pace: float,
    tick_seconds: float,
    verbose: bool,
    slack_app: bool,
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
    start = parse_now(now_text) if now_text else None
    replay_from = None
    if replay:
        now = start or utcnow()
        replay_from = parse_since(replay, now, option="--replay")
        if replay_from >= now:
            raise click.BadParameter(f"{replay!r} is not in the past", param_hint="'--replay'")
    from batchcron.cli.ui import local_page

    options = LocalOptions(
        port=port,
        aws_port=aws_port,
        replay_from=replay_from,
        now=start,
        failures=failures,
        duration=duration,
        webhook_secret=webhook_secret,
        github_hosts=github_hosts or ("github.com",),
        pace=pace,
        tick_seconds=tick_seconds,
        verbose=verbose,
        slack_app=slack_app,
        status_page=local_page,
    )
    return run_local(options)


def parse_now(text: str) -> datetime:
    """--now: an ISO 8601 instant that names its zone (Z or an offset); a usage error (exit 2)
    quoting what was typed otherwise."""
    try:
        parsed = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected an ISO 8601 time with Z or an offset, e.g. 2027-03-01T00:20:00Z",
            param_hint="'--now'",
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter(
            f"{text!r} has no time zone: add Z (UTC) or an offset, e.g. 2027-03-01T00:20:00Z "
            "or 2027-03-01T01:20:00+01:00",
            param_hint="'--now'",
        )
    return parsed.astimezone(UTC)
