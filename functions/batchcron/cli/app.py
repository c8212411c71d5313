"""The `batchcron` command group and what every command shares: target options, usage
errors, run lookup and time-window parsing."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import click

from batchcron.cli.target import Target, TargetOptions, activate, resolve

F = TypeVar("F", bound=Callable[..., Any])


class UsageError(ValueError):
    """A command was given values it cannot use."""


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="batchcron", prog_name="batchcron")
def cli() -> None:
    """Scheduled and push-triggered container jobs on AWS Batch.

    Commands talk to a deployed stack (--stack NAME) or to local mode (`make run`; found
    automatically while it runs, or --endpoint-url).
    """


def target_options(command: F) -> F:
    """Add --stack/--region/--profile/--endpoint-url and pass them on as `target`."""

    @click.option(
        "--stack", envvar="BATCHCRON_STACK", help="Deployed stack to use (env BATCHCRON_STACK)."
    )
    @click.option("--region", help="AWS region of the stack.")
    @click.option("--profile", help="AWS profile (default: the usual credential chain).")
    @click.option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        help="AWS endpoint, e.g. local mode's http://127.0.0.1:5000 (env AWS_ENDPOINT_URL).",
    )
    @wraps(command)
    def wrapper(
        *args: Any,
        stack: str | None,
        region: str | None,
        profile: str | None,
        endpoint_url: str | None,
        **kwargs: Any,
    ) -> Any:
        options = TargetOptions(stack, region, profile, endpoint_url)
        return command(*args, target=options, **kwargs)

    return wrapper  # type: ignore[return-value]


def connect(options: TargetOptions) -> Target:
    target = resolve(options)
    activate(target, options)
    return target


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(command)


AGE = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """ISO 8601 (naive = UTC) or an age like 90m / 24h / 7d before `now`."""
    from batchcron.models import parse_time

    match = AGE.match(text.strip().lower())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        return parse_time(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected an ISO time (2025-01-31T00:00Z) or an age (90m, 24h, 7d)"
        ) from None


def find_run(run_id: str) -> Any:
    """The run with this run id (or Batch job id); UsageError naming what was tried."""
    from batchcron.submit import job_of_run
    from batchcron.wiring import store

    runs_store = store()
    run = runs_store.get_run(job_of_run(run_id), run_id)
    if run is None:
        run = runs_store.run_by_batch_job_id(run_id)
    if run is None:
        raise UsageError(f"no run {run_id!r} (give a run id from `batchcron runs`)")
    return run
