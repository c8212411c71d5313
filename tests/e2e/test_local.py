"""`batchcron local` end to end: a subprocess, real HTTP, the CLI as an operator runs it.

Every test pins local mode's clock (`--now`) at an instant chosen for what it tests, so none
depends on today's date: which slots a replay covers and which jobs run meanwhile follow from
the catalogue and that instant."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def batchcron() -> str:
    script = Path(sys.executable).with_name("batchcron")
    found = str(script) if script.exists() else shutil.which("batchcron")
    assert found, "the batchcron console script is not installed (make venv)"
    return found


def free_port() -> int:
    """A port free now that no other test process can be handed: each pytest-xdist worker draws
    from its own slice of 20000-31999, below Linux's ephemeral range (32768-60999), where the
    kernel's own `bind(0)` choices for every other socket fall."""
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    mine = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % workers
    width = 12000 // workers
    low = 20000 + mine * width
    while True:
        port = random.SystemRandom().randrange(low, low + width)  # seeded tests leave it alone
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def port_is_free(port: int) -> bool:
    """Nothing listens there (closed connections may linger in TIME_WAIT; that is the kernel's)."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Local:
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    port: int
    aws_port: int
    state: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [batchcron(), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def runs(self, job: str) -> list[dict[str, Any]]:
        result = self.cli("runs", job, "--json")
        assert result.returncode == 0, result.stderr
        runs: list[dict[str, Any]] = json.loads(result.stdout)
        return runs

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


# Instants at which no job of the catalogue has a slot for an hour: what runs is what a test
# starts (parish, monthly, has no run of its own).
QUIET_PAST = "2024-02-29T12:00:00Z"
QUIET_FUTURE = "2027-06-15T10:00:00+01:00"
NEW_YEAR = "2027-01-01T01:30:00Z"
MONTH_START = "2027-03-01T00:20:00Z"


@pytest.fixture
def start_local(tmp_path: Path) -> Iterator[Callable[..., Local]]:
    started: list[Local] = []

    def start(*args: str, now: str) -> Local:
        """`batchcron local` on free ports with its clock started at `now` (required)."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "BATCHCRON_")) and key != "SLACK_WEBHOOK_URL"
        }
        port, aws_port = free_port(), free_port()
        state = tmp_path / "state" / f"batchcron-local-{aws_port}.json"
        env.update({"BATCHCRON_LOCAL_STATE_DIR": str(state.parent), "PYTHONUNBUFFERED": "1"})
        log = tmp_path / f"local-{len(started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [
                    batchcron(),
                    "local",
                    "--port",
                    str(port),
                    "--aws-port",
                    str(aws_port),
                    "--now",
                    now,
                    *args,
                ],
                env=env,
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        local = Local(process, log, env, port, aws_port, state)
        started.append(local)
        wait_for(
            "local mode to start",
            lambda: state.exists() or process.poll() is not None,
            timeout=60,  # start-up takes seconds, more on a busy machine
        )
        assert process.poll() is None, local.output()
        return local

    yield start
    for local in started:
        if local.process.poll() is None:
            local.process.kill()
            local.process.wait(timeout=10)


def test_push_runs_fails_alerts_then_recovers_and_ctrl_c_cleans_up(
    start_local: Callable[..., Local],
) -> None:
    # A past instant (a leap day, midday): pushes carry commits stamped by local mode's clock,
    # whose age the webhook checks against that same clock; no slot falls due meanwhile.
    local = start_local(
        "--fail", "entity-builder:1", "--pace", "0.2", "--duration", "100", now=QUIET_PAST
    )

    # A signed push over real HTTP submits the job; its first run fails as asked.
    pushed = local.cli("push", "digital-land/entity-builder")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "202" in pushed.stdout and '"submitted"' in pushed.stdout
    failed = wait_for(
        "the failed outcome",
        lambda: [r for r in local.runs("entity-builder") if r["status"] == "FAILED"],
    )
    assert failed[0]["trigger"] == "push" and failed[0]["exit_code"] == 2
    status = local.cli("status")
    assert status.returncode == 1
    assert "entity-builder" in status.stdout and "FAILED" in status.stdout

    # The next push succeeds: the failure streak ends.
    assert local.cli("push", "entity-builder").returncode == 0
    wait_for(
        "the recovery",
        lambda: (runs := local.runs("entity-builder")) and runs[0]["status"] == "SUCCEEDED",
    )
    runs = local.cli("runs")
    assert runs.returncode == 0
    assert failed[0]["run_id"] in runs.stdout and "SUCCEEDED" in runs.stdout
    logs = local.cli("logs", failed[0]["run_id"])
    assert "Error 2" in logs.stdout
    wait_for("the recovered alert", lambda: "recovered" in local.output())
    assert local.cli("status").returncode == 0

    # Ctrl-C: a clean stop, nothing left behind.
    assert local.interrupt() == 0
    text = local.output()
    assert "entity-builder failed" in text
    assert "entity-builder recovered" in text
    assert text.index("entity-builder failed") < text.index("entity-builder recovered")
    assert "batchcron local stopped" in text
    assert "Traceback" not in text
    assert port_is_free(local.port) and port_is_free(local.aws_port)
    assert not local.state.exists()


def test_duration_replays_the_last_day_and_prints_a_summary(
    start_local: Callable[..., Local],
) -> None:
    # --duration counts from start-up, which takes seconds on a loaded machine: 20 s leaves
    # room for the replayed runs to finish (5 s did not, under load).
    # Across the year end: the replayed day holds every daily slot and the monthly ones.
    local = start_local("--replay", "24h", "--pace", "0.1", "--duration", "20", now=NEW_YEAR)
    assert local.process.wait(timeout=90) == 0
    text = local.output()
    assert "batchcron local" in text and "secret: local-webhook-secret" in text
    assert "2027-01-01 01:30 UTC (set with --now)" in text
    assert "push digital-land/" in text  # the banner's sample push command
    assert "summary" in text
    # Daily jobs ran once each for the last day's slot (the builders after them start when
    # those finish; how far that got depends on the machine's load).
    assert "conservation-area-20270101T010000" in text and "SUCCEEDED" in text
    assert "parish-20270101T000000" in text
    assert "Traceback" not in text
    # Without -v the console is the runs and the alerts: no metrics JSON, no warnings.
    assert '"_aws"' not in text and "Warning" not in text and '{"level"' not in text
    assert port_is_free(local.port) and port_is_free(local.aws_port)


def test_forbid_holds_for_cli_submits_as_on_aws(start_local: Callable[..., Local]) -> None:
    # A slow pace: the first run is still going when the second submit arrives.
    local = start_local("--pace", "5", "--duration", "100", now=QUIET_FUTURE)
    first = local.cli("submit", "parish")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("submitted ")

    second = local.cli("submit", "parish")
    assert second.returncode == 1, second.stdout + second.stderr
    assert "skipped" in second.stdout and "still active" in second.stdout
    statuses = [run["status"] for run in local.runs("parish")]
    assert statuses.count("SKIPPED") == 1 and len(statuses) == 2


def test_aws_cli_clients_see_batch_as_local_mode_plays_it(
    start_local: Callable[..., Local],
) -> None:
    import boto3

    local = start_local("--pace", "5", "--duration", "100", now=QUIET_FUTURE)
    assert local.cli("submit", "parish").returncode == 0
    [run] = local.runs("parish")
    batch = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-2"
    ).client("batch", endpoint_url=f"http://127.0.0.1:{local.aws_port}")
    [job] = batch.describe_jobs(jobs=[run["batch_job_id"]])["jobs"]
    # Not moto's instant SUCCEEDED: with --pace 5 the run ends about 25 s after its submit.
    assert job["status"] in ("SUBMITTED", "RUNNABLE", "STARTING", "RUNNING")


def test_endpoint_url_alone_finds_local_mode(
    start_local: Callable[..., Local], tmp_path: Path
) -> None:
    local = start_local("--duration", "100", now=QUIET_FUTURE)
    # No state file where this client looks: everything comes from the endpoint.
    env = {**local.env, "BATCHCRON_LOCAL_STATE_DIR": str(tmp_path / "elsewhere")}
    endpoint = f"http://127.0.0.1:{local.aws_port}"
    result = subprocess.run(
        [batchcron(), "runs", "--endpoint-url", endpoint],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no runs yet" in result.stderr  # a note: stdout carries only rows


def test_two_local_modes_keep_their_own_state(start_local: Callable[..., Local]) -> None:
    first = start_local("--duration", "100", now=QUIET_FUTURE)
    second = start_local("--duration", "100", now=QUIET_PAST)
    assert first.state.exists() and second.state.exists()

    ambiguous = first.cli("runs")
    assert ambiguous.returncode == 1
    assert "2 local modes are running" in ambiguous.stderr
    assert "--endpoint-url" in ambiguous.stderr
    chosen = first.cli("runs", "--endpoint-url", f"http://127.0.0.1:{second.aws_port}")
    assert chosen.returncode == 0, chosen.stderr

    # The second one stopping leaves the first one findable with no options.
    assert second.interrupt() == 0
    assert not second.state.exists() and first.state.exists()
    assert first.cli("runs").returncode == 0


def test_cancel_records_cancelled_without_alert_and_status_stays_0(
    start_local: Callable[..., Local],
) -> None:
    # A slow pace: the run is still going (about 25 s) when the cancel arrives.
    local = start_local("--pace", "5", "--duration", "100", now=QUIET_FUTURE)
    submitted = local.cli("submit", "parish")
    assert submitted.returncode == 0, submitted.stderr
    [run] = local.runs("parish")
    cancelled = local.cli("cancel", run["run_id"])
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    wait_for(
        "the cancelled run",
        lambda: local.runs("parish")[0]["status"] == "CANCELLED",
        timeout=60,
    )
    status = local.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "parish failed" not in local.output()  # no failure alert


def slots_within(instant: str, before: timedelta, after: timedelta) -> dict[str, list[datetime]]:
    """Each scheduled catalogue job's slots in [instant - before, instant + after]."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.catalogue.schedule import slots_between
    from batchcron.models import parse_time

    moment = parse_time(instant)
    found = {}
    for job in load_catalogue().scheduled():
        assert job.schedule is not None
        slots = slots_between(job.schedule, job.timezone, moment - before, moment + after)
        if slots:
            found[job.name] = slots
    return found


def test_the_quiet_instants_have_no_slot_for_an_hour() -> None:
    for instant in (QUIET_PAST, QUIET_FUTURE):
        assert slots_within(instant, timedelta(0), timedelta(hours=1)) == {}, instant


@pytest.mark.timeout(300)  # a dozen CLI processes: minutes on a loaded machine
def test_now_runs_every_part_of_local_mode_on_the_set_clock(
    start_local: Callable[..., Local],
) -> None:
    import urllib.request

    # Given local mode started at a month's start, replaying the day before it
    local = start_local("--replay", "24h", "--pace", "0.1", "--duration", "100", now=MONTH_START)
    banner = wait_for("the banner", lambda: "Ctrl-C stops" in local.output() and local.output())
    assert "Clock  2027-03-01 00:20 UTC (set with --now)" in banner
    midnight = datetime(2027, 3, 1, tzinfo=UTC)
    replayed = slots_within(MONTH_START, timedelta(hours=24), timedelta(0))
    at_midnight = [job for job, slots in replayed.items() if midnight in slots]
    assert "parish" in at_midnight  # the monthly jobs, and the daily ones at 00:00

    # Then the monthly jobs' 2027-03-01 slots ran, on Batch times of that clock
    def parish_done() -> list[dict[str, Any]]:
        return [r for r in local.runs("parish") if r["status"] == "SUCCEEDED"]

    [run] = wait_for("parish's replayed slot", parish_done, timeout=90)
    assert run["run_id"] == "parish-20270301T000000"
    assert run["started_at"].startswith("2027-03-01T00:2")
    assert run["stopped_at"] >= run["started_at"]
    every = local.cli("runs", "--limit", "100", "-o", "json")
    assert every.returncode == 0, every.stderr
    run_ids = {r["run_id"] for r in json.loads(every.stdout)}
    assert {f"{job}-20270301T000000" for job in at_midnight} <= run_ids
    logs = local.cli("logs", run["run_id"])
    assert logs.returncode == 0 and "make: done" in logs.stdout, logs.stdout + logs.stderr

    # The CLI reads local mode's clock from its state: the next run is after the set instant
    jobs = local.cli("jobs", "-o", "json")
    assert jobs.returncode == 0, jobs.stderr
    next_runs = {row["job"]: row["next_run"] for row in json.loads(jobs.stdout)}
    assert next_runs["parish"].startswith("2027-04-01T00:00")
    assert next_runs["local-authority-district"].startswith("2027-03-02T00:00")

    # ...and so does the status page: updated in March 2027, next runs from there
    with urllib.request.urlopen(f"http://127.0.0.1:{local.port}/", timeout=30) as response:
        page = response.read().decode("utf-8")
    assert "updated 2027-03-01 00:" in page
    assert "2027-04-01 00:00 UTC" in page

    # A sample push is stamped by that clock, so the webhook takes it as fresh
    pushed = local.cli("push", "digital-land/entity-builder")
    assert pushed.returncode == 0 and '"submitted"' in pushed.stdout, pushed.stdout
    assert local.interrupt() == 0
    assert "Traceback" not in local.output()
