"""The `batchcron` command group and what every command shares: target options, usage
errors, run lookup and time-window parsing."""

from __future__ import annotations

import re
import time
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


def output_options(command: F) -> F:
    """Add -o/--output (json, wide, name), --json (= -o json) and --local (times in this
    terminal's zone; UTC by default); pass the choice on as `mode`."""

    @click.option(
        "-o",
        "--output",
        "output_format",
        type=click.Choice(["json", "wide", "name"]),
        help="json: records for scripts; wide: every column; name: identifiers only.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Same as -o json.")
    @click.option("--local", "local_time", is_flag=True, help="Times in this terminal's zone.")
    @wraps(command)
    def wrapper(
        *args: Any,
        output_format: str | None,
        as_json: bool,
        local_time: bool,
        **kwargs: Any,
    ) -> Any:
        from batchcron.adapters import terminal

        terminal.use_local_time(local_time)
        mode = "json" if as_json else (output_format or "table")
        return command(*args, mode=mode, **kwargs)

    return wrapper  # type: ignore[return-value]


def watch_option(command: F) -> F:
    return click.option("--watch", "-w", is_flag=True, help="Redraw every 2 s until Ctrl-C.")(
        command
    )


WATCH_SECONDS = 2.0


def watching(draw: Callable[[], int], watch: bool) -> int:
    """Run `draw` once, or redraw it every WATCH_SECONDS until Ctrl-C (exit 0 then)."""
    if not watch:
        return draw()
    from batchcron.adapters import terminal

    console = terminal.out()
    try:
        while True:
            if console.is_terminal:
                console.clear()
            else:
                console.print()
            draw()
            time.sleep(WATCH_SECONDS)
    except KeyboardInterrupt:
        return 0


AGE = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime, option: str = "--since") -> datetime:
    """ISO 8601 (naive = UTC; a date alone is its midnight) or an age like 90m / 24h / 7d
    before `now`. A usage error (exit 2) quoting what was typed, under `option`."""
    from batchcron.models import parse_time

    match = AGE.match(text.strip().lower())
    if match:
        amount = int(match.group(1))
        if amount <= 0:
            raise click.BadParameter(
                f"{text!r}: an age must be more than 0", param_hint=f"'{option}'"
            )
        return now - timedelta(**{UNITS[match.group(2)]: amount})
    try:
        return parse_time(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected an ISO time (2025-01-31, 2025-01-31T00:00Z) or an age "
            "(90m, 24h, 7d)",
            param_hint=f"'{option}'",
        ) from None


def read_catalogue() -> Any:
    """The catalogue for a read command: while the file has an error, its errors on stderr and
    the last good catalogue (catalogue/lastgood.py), so the command still answers."""
    from batchcron.adapters import terminal
    from batchcron.catalogue.lastgood import load_or_last_good

    catalogue, error = load_or_last_good()
    if error is not None:
        console = terminal.err()
        console.print(
            f"{error.source}: {len(error.problems)} catalogue error(s); showing the last good "
            "catalogue (`batchcron validate` lists them):",
            style="bold red",
            markup=False,
            soft_wrap=True,
        )
        for problem in error.problems:
            console.print(f"  {problem}", markup=False, soft_wrap=True)
    return catalogue


def find_run(run_id: str) -> Any:
    """The run with this run id (or Batch job id); UsageError naming what was tried."""
    run = lookup_run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id!r} (give a run id from `batchcron runs`)")
    return run


def lookup_run(run_id: str, *, any_job: bool = True) -> Any:
    """The run with this run id or Batch job id, else None. A batchcron run id names its job
    (one GetItem); any other id `batchcron runs` prints (a foreign run's, such as
    `reprocess-parish-abcdef12`, stored under another job) is looked up by id across jobs
    (`any_job`; it reads the time index until found)."""
    from batchcron.scheduling.submit import job_of_run
    from batchcron.wiring import store

    runs_store = store()
    run = runs_store.get_run(job_of_run(run_id), run_id)
    if run is None:
        run = runs_store.run_by_batch_job_id(run_id)
    if run is None and any_job:
        run = runs_store.run_by_id(run_id)
    return run


_HOST = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def github_host(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """`--github-host`: a bare host name (github.com, or a GitHub Enterprise Server's), lower
    case; a usage error naming the option otherwise. One value or a tuple of them."""
    values = value if isinstance(value, tuple) else (value,)
    checked: list[str] = []
    for host in values:
        text = str(host or "").strip().lower()
        if not _HOST.fullmatch(text) or len(text) > 253:
            raise click.BadParameter(
                f"{host!r}: expected a host name such as github.com or ghe.example.org "
                "(no scheme, port or path)",
                param=param,
            )
        checked.append(text)
    return tuple(checked) if isinstance(value, tuple) else checked[0]
