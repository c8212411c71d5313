"""The `batchcron` commands. Each one resolves its target, then calls the same code the Lambda
functions run (catalogue, submit path, dispatcher, run store)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.text import Text

from batchcron.cli import output
from batchcron.cli.target import Target, TargetError, TargetOptions, activate, resolve

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


# --- catalogue ---------------------------------------------------------------------------


@cli.command()
@json_option
@target_options
def jobs(target: TargetOptions, as_json: bool) -> int:
    """The catalogue: schedules in words, next run, push triggers, paused."""
    from batchcron.catalogue import load_catalogue
    from batchcron.schedule import next_slot, zone

    catalogue = load_catalogue()
    paused: dict[str, bool] | None = None
    try:
        connect(target)
        from batchcron.wiring import store

        states = store().job_states(list(catalogue.jobs))
        paused = {name: state.paused for name, state in states.items()}
    except TargetError:
        paused = None
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for job in catalogue.jobs.values():
        upcoming = next_slot(job.schedule, job.timezone, now) if job.schedule else None
        rows.append(
            {
                "job": job.name,
                "repository": job.repository,
                "script": job.script,
                "schedule": job.schedule,
                "schedule_text": describe_schedule(job.schedule),
                "timezone": job.timezone,
                "next_run": upcoming.isoformat() if upcoming and job.enabled else None,
                "next_run_local": upcoming.astimezone(zone(job.timezone)).strftime(
                    "%Y-%m-%d %H:%M %Z"
                )
                if upcoming and job.enabled
                else None,
                "on_push": list(job.on_push.branches) if job.on_push else None,
                "enabled": job.enabled,
                "paused": paused.get(job.name) if paused is not None else None,
            }
        )
    if as_json:
        output.print_json(rows)
        return 0
    grid = output.table(
        "JOB", "REPOSITORY", "SCRIPT", "SCHEDULE", "TIME ZONE", "NEXT RUN", "ON PUSH", "PAUSED"
    )
    for row in rows:
        schedule = f"{row['schedule_text']} ({row['schedule']})" if row["schedule"] else "-"
        if not row["enabled"]:
            schedule += " [disabled]"
        grid.add_row(
            row["job"],
            row["repository"],
            row["script"] if len(row["script"]) < 40 else row["script"][:37] + "...",
            schedule,
            row["timezone"],
            row["next_run_local"] or "-",
            ", ".join(row["on_push"]) if row["on_push"] else "-",
            "?" if row["paused"] is None else ("[yellow]yes[/]" if row["paused"] else "no"),
        )
    output.out().print(grid)
    if paused is None:
        output.err().print("[dim]paused: unknown (no stack or local mode to ask)[/]")
    return 0


def describe_schedule(expr: str | None) -> str:
    if not expr:
        return "push/manual only"
    try:
        from cron_descriptor import ExpressionDescriptor, Options

        options = Options()
        options.use_24hour_time_format = True
        return str(ExpressionDescriptor(expr, options).get_description())
    except Exception:  # a description is a nicety; the expression itself was validated
        return expr


@cli.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def validate(file: Path | None) -> int:
    """Check a catalogue (default: JOBS_FILE or functions/jobs.yaml); every error, then exit 1."""
    from batchcron.catalogue import CatalogueError, jobs_file, load_catalogue

    path = file or jobs_file()
    try:
        catalogue = load_catalogue(path)
    except CatalogueError as exc:
        console = output.err()
        console.print(f"[bold red]{path}: {len(exc.problems)} error(s)[/]")
        for problem in exc.problems:
            console.print(f"  {exc.source}: {problem}", soft_wrap=True, markup=False)
        return 1
    output.out().print(f"{path}: {len(catalogue.jobs)} job(s), valid")
    return 0


# --- runs ----------------------------------------------------------------------------------


@cli.command()
@click.argument("job")
@click.option("--ref", help="Git ref (branch, tag or sha) to build; default: the default branch.")
@target_options
def submit(target: TargetOptions, job: str, ref: str | None) -> int:
    """Start a manual run of JOB now (the same submit path as schedules and pushes)."""
    from batchcron.catalogue import load_catalogue
    from batchcron.cli.actions import ActionError, run_now

    if not load_catalogue().get(job).enabled:
        raise UsageError(f"job {job!r} is disabled in the catalogue (enabled: false)")
    connect(target)
    try:
        outcome = run_now(job, ref)
    except ActionError as exc:
        raise UsageError(str(exc)) from None
    if outcome.paused:
        output.err().print(f"[yellow]note:[/] {job} is paused; a manual run still starts")
    console = output.out()
    if outcome.ok:
        console.print(outcome.describe())
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
    if job:
        catalogue = load_catalogue()
        if job not in catalogue.jobs:
            catalogue.get(job)  # raises UnknownJobError with suggestions
    connect(target)
    from batchcron.wiring import store

    fetch = limit if wanted is None else min(limit * 20, 2000)
    found = store().runs_for_job(job, limit=fetch) if job else store().recent_runs(limit=fetch)
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
    from batchcron.cli.actions import set_paused

    load_catalogue().get(job)
    connect(target)
    output.out().print(set_paused(job, paused))
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


@cli.command()
@click.argument("run_id", metavar="RUN")
@target_options
def cancel(target: TargetOptions, run_id: str) -> int:
    """Terminate RUN's Batch job (a queued run is dropped instead)."""
    from batchcron.cli.actions import cancel as cancel_run

    connect(target)
    result = cancel_run(find_run(run_id), _who())
    output.out().print(result.message)
    return 0 if result.ok else 1


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "an operator"


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


@cli.command()
@click.argument("repository", metavar="REPO")
@click.option("--branch", default="main", show_default=True)
@click.option("--file", "files", multiple=True, help="A changed file (repeatable).")
@click.option("--url", help="Webhook URL (default: local mode's, or the stack's WebhookUrl).")
@click.option("--secret", envvar="BATCHCRON_WEBHOOK_SECRET", help="Webhook secret.")
@target_options
def push(
    target: TargetOptions,
    repository: str,
    branch: str,
    files: tuple[str, ...],
    url: str | None,
    secret: str | None,
) -> int:
    """Send a signed sample push for REPO (owner/name, or a job name) to the webhook."""
    from batchcron.cli import push as github

    repository = _repository(repository)
    if not url or not secret:
        found = _webhook(target)
        url = url or found[0]
        secret = secret or found[1]
    delivery = github.send(url, secret, github.payload(repository, branch, files or ("README.md",)))
    console = output.out()
    colour = "green" if 200 <= delivery.status < 300 else "red"
    console.print(
        f"push {repository}@{branch} ({delivery.sha[:12]}) -> {url}: "
        f"[{colour}]{delivery.status}[/] (delivery {delivery.delivery_id})"
    )
    if delivery.body is not None:
        console.print_json(data=delivery.body) if not isinstance(
            delivery.body, str
        ) else console.print(delivery.body, markup=False)
    return 0 if 200 <= delivery.status < 300 else 1


def _repository(text: str) -> str:
    if "/" in text:
        return text
    from batchcron.catalogue import load_catalogue

    catalogue = load_catalogue()
    if text in catalogue.jobs:
        return catalogue.jobs[text].repository
    job = catalogue.by_repository_name(text)
    if job is None:
        catalogue.get(text)  # unknown: suggestions
        raise AssertionError("unreachable")
    return job.repository


DEFAULT_LOCAL_WEBHOOK = ("http://127.0.0.1:3000/github", "local-webhook-secret")


def _webhook(options: TargetOptions) -> tuple[str, str]:
    try:
        target = connect(options)
    except TargetError:
        if options.stack:
            raise
        return DEFAULT_LOCAL_WEBHOOK
    if target.local and target.webhook_url and target.webhook_secret:
        return target.webhook_url, target.webhook_secret
    if target.kind == "stack" and target.webhook_url:
        arn = target.environment.get("GITHUB_WEBHOOK_SECRET_ARN")
        if not arn:
            raise UsageError("the stack has no WebhookSecretArn output: pass --secret")
        from batchcron import aws

        value = aws.secretsmanager().get_secret_value(SecretId=arn)["SecretString"]
        return target.webhook_url, str(value)
    return DEFAULT_LOCAL_WEBHOOK


# --- local mode --------------------------------------------------------------------------------


@cli.command()
@click.option("--port", default=3000, show_default=True, help="Webhook port (0: any free port).")
@click.option(
    "--aws-port", default=5000, show_default=True, help="Embedded AWS port (0: any free port)."
)
@click.option("--replay", help="First run every slot of this last period, e.g. 24h.")
@click.option(
    "--fail",
    "fail",
    multiple=True,
    metavar="JOB[:N]",
    help="Make JOB's first N runs (default: all) fail. Repeatable.",
)
@click.option("--duration", type=float, help="Stop after this many seconds and print a summary.")
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
    from batchcron.catalogue import load_catalogue
    from batchcron.local import LocalOptions, run_local

    catalogue = load_catalogue()
    failures: dict[str, int | None] = {}
    for spec in fail:
        name, _, count = spec.partition(":")
        catalogue.get(name)
        if count and not count.isdigit():
            raise UsageError(f"--fail {spec}: expected JOB or JOB:N")
        failures[name] = int(count) if count else None
    replay_from = None
    if replay:
        now = datetime.now(UTC)
        replay_from = parse_since(replay, now)
        if replay_from >= now:
            raise UsageError(f"--replay {replay} is not a period in the past")
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
    )
    return run_local(options)
