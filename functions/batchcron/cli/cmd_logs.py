"""`logs`: a run's (or a job's latest run's) CloudWatch log stream."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click
from rich.text import Text

from batchcron.adapters import terminal
from batchcron.cli.app import UsageError, cli, connect, lookup_run, target_options
from batchcron.cli.target import TargetOptions


@cli.command()
@click.argument("name", metavar="RUN|JOB")
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Wait for the stream, then print new lines until the run ends.",
)
@target_options
def logs(target: TargetOptions, name: str, follow: bool) -> int:
    """Print a run's CloudWatch log stream (for a JOB: its latest run's)."""
    from batchcron.adapters.joblogs import JobLogs, NoLogStreamError
    from batchcron.settings import settings
    from batchcron.wiring import store

    resolved = connect(target)
    run = run_or_latest(name)
    group = settings().job_log_group
    console = terminal.out()
    if not group:
        raise UsageError("the target has no job log group (JOB_LOG_GROUP / JobLogGroupName)")
    reader = JobLogs()
    token: str | None = None
    stream: str | None = None
    waiting_said = False
    while True:
        stream = (
            stream
            or run.log_stream
            or next((a.log_stream for a in reversed(run.attempts) if a.log_stream), None)
        )
        read = False
        if stream:
            try:
                page = reader.read(group, stream, token)
                read = True
            except NoLogStreamError:
                # Batch names the stream before the container writes to it: when following
                # a live run, wait for it.
                if not follow or run.status.terminal:
                    where = "in local mode " if resolved.local else ""
                    console.print(
                        f"no logs {where}for {run.run_id}: stream {stream} is not in {group} "
                        "(expired or never written)"
                    )
                    return 0 if resolved.local else 1
            else:
                for stamp, line in page.lines:
                    moment = datetime.fromtimestamp(stamp / 1000, UTC).strftime("%H:%M:%S")
                    console.print(Text.assemble((moment, "dim"), " ", line), soft_wrap=True)
                token = page.token or token
        if not follow:
            if not stream:
                console.print(f"{run.run_id} has no log stream yet (status {run.status.value})")
            return 0
        if run.status.terminal and (read or not stream):
            if not stream:
                console.print(f"{run.run_id} ended {run.status.value} without a log stream")
            return 0
        if not read and not waiting_said:
            terminal.err().print(
                f"[dim]waiting for {run.run_id}'s log stream (status {run.status.value}); "
                "Ctrl-C stops[/]"
            )
            waiting_said = True
        time.sleep(2)
        run = store().get_run(run.job, run.run_id) or run  # its job is known by now


def run_or_latest(name: str) -> Any:
    """The run `name` names, else the latest run of the job `name` (catalogued or not)."""
    from batchcron.wiring import store

    # A job's latest run before the look-up across jobs, which reads the time index.
    run = lookup_run(name, any_job=False)
    if run is None:
        run = next(iter(store().runs_for_job(name, limit=1)), None)
    if run is None:
        run = lookup_run(name)
    if run is None:
        raise UsageError(
            f"no run or job {name!r} with runs (give a run id or job name from `batchcron runs`)"
        )
    return run
