"""`logs`: a run's CloudWatch log stream."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click
from rich.text import Text

from batchcron.cli import output
from batchcron.cli.app import UsageError, cli, connect, find_run, target_options
from batchcron.cli.target import TargetOptions


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the run ends.")
@target_options
def logs(target: TargetOptions, run_id: str, follow: bool) -> int:
    """Print RUN's CloudWatch log stream."""
    from batchcron.joblogs import JobLogs, NoLogStreamError
    from batchcron.settings import settings

    resolved = connect(target)
    run = find_run(run_id)
    group = settings().job_log_group
    console = output.out()
    if not group:
        raise UsageError("the target has no job log group (JOB_LOG_GROUP / JobLogGroupName)")
    reader = JobLogs()
    token: str | None = None
    stream: str | None = None
    while True:
        stream = (
            stream
            or run.log_stream
            or next((a.log_stream for a in reversed(run.attempts) if a.log_stream), None)
        )
        if stream:
            try:
                page = reader.read(group, stream, token)
            except NoLogStreamError:
                if resolved.local:
                    console.print(f"no logs in local mode for {run.run_id}")
                    return 0
                console.print(f"log stream {stream} is not in {group} (expired or not written)")
                return 1
            for stamp, line in page.lines:
                moment = datetime.fromtimestamp(stamp / 1000, UTC).strftime("%H:%M:%S")
                console.print(Text.assemble((moment, "dim"), " ", line), soft_wrap=True)
            token = page.token or token
        elif not follow:
            console.print(f"{run.run_id} has no log stream yet (status {run.status.value})")
            return 0
        if not follow or (run.status.terminal and stream):
            return 0
        time.sleep(2)
        run = find_run(run.run_id)
