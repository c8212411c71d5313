"""No silent stall (issue 22): every way an `after:` job could end up waiting with nothing said,
reproduced through the handlers under moto, now ends with the downstream run recorded or the
wait alerted and visible."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchcron.handlers.dispatch import handler as dispatch_handler
from batchcron.handlers.job_state import handler
from batchcron.models import Run, Status, iso, set_clock, utcnow
from batchcron.store.runs import RunStore
from tests.batch_events import batch_event, from_batch
from tests.integration.outcomes.test_job_state import FakeSlack

NIGHT = datetime(2027, 3, 1, 1, 0, tzinfo=UTC)
CATALOGUE = """
jobs:
  collect-a:
    repository: acme/collect-a
  collect-b:
    repository: acme/collect-b
  build:
    repository: acme/build
    script: builder
    after: {jobs: [collect-a, collect-b]}
  tiles:
    repository: acme/tiles
    script: builder
    after: {jobs: [collect-b], max_wait: 6h}
  quiet:
    repository: acme/quiet
    after: {jobs: [collect-b], max_wait: none}
"""
NOT_ALLOWED = "arn:aws:batch:eu-west-2:123456789012:job-queue/not-this-stack"

_ids = iter(range(10**6))


@pytest.fixture
def slack(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    fake = FakeSlack()
    boto3.client("secretsmanager").put_secret_value(
        SecretId=aws_env.slack_secret_arn, SecretString=fake.url()
    )
    monkeypatch.setattr("batchcron.adapters.slack.DEFAULT_BACKOFF", 0)
    yield fake
    fake.close()


def use_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("JOBS_FILE", str(path))
    return path


@pytest.fixture
def store(
    aws_env: Any, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RunStore:
    from batchcron.settings import settings

    use_catalogue(tmp_path, monkeypatch, CATALOGUE)
    set_clock(NIGHT)
    return RunStore(settings().runs_table)


def finished(
    job: str,
    status: str = "SUCCEEDED",
    *,
    at: datetime | None = None,
    reason: str | None = None,
    trigger: str = "schedule",
) -> dict[str, Any]:
    """The terminal event of one run of `job`, stopped at `at` (default: now)."""
    number = next(_ids)
    stopped = at or utcnow()
    event = batch_event(
        status,
        1,
        job=job,
        run_id=f"{job}-run{number:04d}",
        job_id=f"{number:08d}-0000-4000-8000-000000000000",
        max_attempts=1,
        exit_code=0 if status == "SUCCEEDED" else 2,
        reason=reason,
        repository=None,
        start=stopped - timedelta(minutes=5),
    )
    event["detail"]["tags"]["batchcron:trigger"] = trigger
    stamp = int(stopped.timestamp() * 1000)
    event["detail"]["stoppedAt"] = event["detail"]["attempts"][-1]["stoppedAt"] = stamp
    return event


def record(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from batchcron.wiring import store

    return handler(from_batch(event, store()), context)


def tick(context: Any) -> dict[str, Any]:
    return dispatch_handler({"scheduled_time": iso(utcnow())}, context)


def later(delta: timedelta) -> None:
    set_clock(utcnow() + delta)


def upstream_runs(store: RunStore, job: str) -> list[Run]:
    return [run for run in store.runs_for_job(job, limit=50) if run.trigger == "upstream"]


def about(slack: FakeSlack, job: str) -> list[str]:
    return [text for text in slack.headlines() if job in text]


# --- 1. a downstream whose queue the stack does not allow ---------------------------------------


def test_an_upstream_start_the_stack_refuses_is_a_recorded_failed_run_alerted_once(
    store: RunStore, slack: FakeSlack, lambda_context: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    use_catalogue(
        tmp_path,
        monkeypatch,
        CATALOGUE.replace(
            "    after: {jobs: [collect-a, collect-b]}\n",
            f"    after: {{jobs: [collect-a, collect-b]}}\n    job_queue: {NOT_ALLOWED}\n",
        ),
    )
    record(finished("collect-a"), lambda_context)
    record(finished("collect-b"), lambda_context)

    # The cycle's run is recorded, SUBMIT_FAILED with the reason, and alerted once
    (run,) = upstream_runs(store, "build")
    assert run.status == Status.SUBMIT_FAILED
    assert "job_queue" in (run.reason or "") and "not one the stack allows" in (run.reason or "")
    assert run.deadline is not None
    assert store.job_state("build").upstream_start is None
    # Retried by the ticks as a scheduled run is, never alerted again, never a second run
    for _ in range(3):
        later(timedelta(minutes=5))
        tick(lambda_context)
    (run,) = upstream_runs(store, "build")
    assert run.status == Status.SUBMIT_FAILED
    assert len([t for t in about(slack, "build") if "could not" in t or "submit" in t]) == 1
    # ...until its deadline, when it leaves the retry queue (still SUBMIT_FAILED, visible)
    later(timedelta(hours=2))
    tick(lambda_context)
    (run,) = upstream_runs(store, "build")
    assert run.status == Status.SUBMIT_FAILED
    assert "not retried after its deadline" in (run.reason or "")


def test_an_upstream_start_that_batch_refuses_is_retried_and_then_submitted(
    store: RunStore, slack: FakeSlack, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.adapters.batch import Batch, BatchUnavailableError

    original = Batch.submit
    with monkeypatch.context() as patch:

        def refuse(self: Batch, spec: Any) -> str:
            raise BatchUnavailableError("TooManyRequestsException: throttled")

        patch.setattr(Batch, "submit", refuse)
        record(finished("collect-a"), lambda_context)
        record(finished("collect-b"), lambda_context)
    (run,) = upstream_runs(store, "build")
    assert run.status == Status.SUBMIT_FAILED and "throttled" in (run.reason or "")
    assert Batch.submit is original
    later(timedelta(minutes=1))
    tick(lambda_context)
    (run,) = upstream_runs(store, "build")
    assert run.status == Status.SUBMITTED and run.batch_job_id


# --- 2. a cancelled by-hand re-run of an upstream ----------------------------------------------


def test_a_cancelled_upstream_run_neither_blocks_nor_completes_a_cycle(
    store: RunStore, lambda_context: Any
) -> None:
    # collect-a succeeds, then a by-hand re-run of it is cancelled
    record(finished("collect-a"), lambda_context)
    later(timedelta(minutes=10))
    cancel = finished(
        "collect-a", "FAILED", reason="batchcron: cancelled by alice", trigger="manual"
    )
    assert record(cancel, lambda_context)["status"] == "CANCELLED"
    assert store.job_state("collect-a").last_status == "CANCELLED"  # what people see
    # When collect-b succeeds, build starts from collect-a's success
    later(timedelta(minutes=10))
    record(finished("collect-b"), lambda_context)
    (run,) = upstream_runs(store, "build")
    assert run.upstream_runs[0] != cancel["detail"]["tags"]["batchcron:run-id"]
    assert run.upstream_runs[0].startswith("collect-a-run")

    # And a cancel alone never completes the next cycle
    later(timedelta(hours=1))
    record(finished("collect-b"), lambda_context)
    record(
        finished("collect-a", "FAILED", reason="batchcron: cancelled by bob", trigger="manual"),
        lambda_context,
    )
    tick(lambda_context)
    assert len(upstream_runs(store, "build")) == 1


# --- 3. a crash after the claim, then a pause ---------------------------------------------------


def test_a_crash_after_the_claim_then_a_pause_starts_one_run_on_resume(
    store: RunStore, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.scheduling.submit import Submitter

    def die(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the invocation died after claiming the run")

    # The run is claimed, then the invocation dies before submitting or recording anything
    with monkeypatch.context() as patch:
        patch.setattr(Submitter, "start", die)
        patch.setattr(Submitter, "fail", die)
        record(finished("collect-a"), lambda_context)
        record(finished("collect-b"), lambda_context)
    (claimed,) = upstream_runs(store, "build")
    assert claimed.status == Status.CLAIMED
    # The job is paused; the ticks re-drive nothing while it is, however long
    store.update_job_state("build", {"paused": True})
    for _ in range(4):
        later(timedelta(hours=1))
        tick(lambda_context)
    (run,) = upstream_runs(store, "build")
    assert run.status == Status.CLAIMED, run.reason
    # On resume the cycle's one run starts
    store.update_job_state("build", {"paused": False})
    later(timedelta(minutes=4))
    tick(lambda_context)
    tick(lambda_context)
    (run,) = upstream_runs(store, "build")
    assert run.run_id == claimed.run_id
    assert run.status == Status.SUBMITTED and run.batch_job_id


def test_a_claimed_cycle_of_a_paused_job_waits_for_resume(
    store: RunStore, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.scheduling.submit import Submitter

    def die(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("died between claiming the cycle and the run")

    with monkeypatch.context() as patch:
        patch.setattr(Submitter, "trigger", die)
        patch.setattr(Submitter, "fail", die)
        record(finished("collect-a"), lambda_context)
        record(finished("collect-b"), lambda_context)
    assert store.job_state("build").upstream_start is not None
    store.update_job_state("build", {"paused": True})
    later(timedelta(hours=3))
    tick(lambda_context)
    assert upstream_runs(store, "build") == []
    store.update_job_state("build", {"paused": False})
    tick(lambda_context)
    (run,) = upstream_runs(store, "build")
    assert run.status == Status.SUBMITTED


# --- 4 and 6. the catalogue refuses a wait that cannot end --------------------------------------


def test_after_a_disabled_job_is_refused_with_job_field_and_line(
    aws_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    from batchcron.catalogue.errors import CatalogueError

    use_catalogue(
        tmp_path,
        monkeypatch,
        CATALOGUE.replace(
            "  collect-b:\n    repository: acme/collect-b\n",
            "  collect-b:\n    repository: acme/collect-b\n    enabled: false\n",
        ),
    )
    lines = Path(tmp_path / "jobs.yaml").read_text().splitlines()
    after = [n for n, line in enumerate(lines, 1) if "after:" in line]
    with pytest.raises(CatalogueError) as caught:
        tick(lambda_context)
    problems = {(p.job, p.field, p.line) for p in caught.value.problems}
    assert ("build", "after.jobs", after[0]) in problems
    assert ("tiles", "after.jobs", after[1]) in problems
    assert "collect-b is disabled" in str(caught.value)


@pytest.mark.parametrize(
    ("job", "field", "needle"),
    [
        ('"parish\\n"', "name", "job names"),
        ('"parish "', "name", "job names"),
    ],
)
def test_a_name_ending_in_a_newline_or_space_is_refused(job: str, field: str, needle: str) -> None:
    from batchcron.catalogue.errors import CatalogueError
    from batchcron.catalogue.loading import parse_catalogue

    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(f"jobs:\n  {job}:\n    repository: acme/parish\n")
    assert [(p.field, p.line) for p in caught.value.problems] == [(field, 2)]
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('repository: "acme/parish\\n"', "repository"),
        ('environment: {"MODE\\n": x}', "environment"),
        ('environment: {MODE: "fast\\n"}', "environment"),
        ('job_queue: "arn:aws:batch:eu-west-2:1:job-queue/q\\n"', "job_queue"),
        ('script: "https://example.com/run.sh\\n"', "script"),
    ],
)
def test_a_value_ending_in_a_newline_is_refused(line: str, field: str) -> None:
    from batchcron.catalogue.errors import CatalogueError
    from batchcron.catalogue.loading import parse_catalogue

    text = f"jobs:\n  parish:\n    repository: acme/parish\n    {line}\n"
    if line.startswith("repository"):
        text = f"jobs:\n  parish:\n    {line}\n"
    if line.startswith("script"):
        text += f'    script_sha256: "{"0" * 64}"\n'
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text)
    assert [p.field for p in caught.value.problems] == [field]


# --- 5. a manual run of a paused job ------------------------------------------------------------


def test_a_manual_run_of_a_paused_job_is_refused_unless_forced(
    store: RunStore, aws_env: Any
) -> None:
    from batchcron.wiring import control

    control().set_paused("collect-a", True)
    refused = control().run_now("collect-a")
    assert refused.action == "refused" and not refused.ok
    assert "collect-a is paused" in refused.describe()
    assert store.runs_for_job("collect-a") == []  # nothing recorded, nothing submitted

    forced = control().run_now("collect-a", force=True)
    assert forced.action == "submitted", forced.describe()
    (run,) = store.runs_for_job("collect-a")
    assert run.status == Status.SUBMITTED and run.trigger == "manual"


def test_the_page_refuses_run_now_of_a_paused_job_and_offers_run_anyway(
    store: RunStore, aws_env: Any
) -> None:
    import re

    from batchcron.ui.app import Request, StatusPage
    from batchcron.ui.source import Source

    host = {"host": "127.0.0.1:8322"}
    page = StatusPage(
        Source(region="eu-west-2", log_group=aws_env.log_group, console_links=False),
        port=8322,
        token="t0ken",
    )

    def post(form: str) -> str:
        response = page.handle(
            Request.from_target("POST", "/actions/run", host, body=form.encode())
        )
        assert response.status == 303
        target = response.headers["Location"]
        return page.handle(Request.from_target("GET", target, host)).body.decode()

    store.update_job_state("collect-a", {"paused": True})
    text = post("job=collect-a&token=t0ken")
    flash = re.search(r'id="flash">([^<]+)<', text)
    assert flash and flash.group(1).startswith("refused: collect-a is paused")
    assert "Run anyway" in text and 'name="force" value="1"' in text
    assert store.runs_for_job("collect-a") == []

    text = post("job=collect-a&token=t0ken&force=1")
    flash = re.search(r'id="flash">([^<]+)<', text)
    assert flash and flash.group(1).startswith("submitted collect-a-")


# --- the watchdog -------------------------------------------------------------------------------


def test_an_overdue_wait_alerts_once_shows_everywhere_and_follows_up_once(
    store: RunStore, slack: FakeSlack, lambda_context: Any
) -> None:
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.cli.cmd_runs import status_rows

    # 01:00 collect-a succeeds; 01:42 collect-b fails: build and tiles wait for it
    record(finished("collect-a"), lambda_context)
    later(timedelta(minutes=42))
    record(finished("collect-b", "FAILED"), lambda_context)
    slack.accepted.clear()

    # Five hours on, tiles (max_wait 6h) is not overdue yet; nothing alerts
    later(timedelta(hours=5))
    tick(lambda_context)
    assert about(slack, "waited") == []

    # Past six hours since collect-b failed: one alert for tiles, in the words
    later(timedelta(hours=1, minutes=1))
    tick(lambda_context)
    tick(lambda_context)
    assert about(slack, "waited") == [
        ":hourglass: tiles has waited 6 h for collect-b: FAILED 01:42; build, quiet also wait on it"
    ]
    rows = {row["job"]: row for row in status_rows(load_catalogue())}
    assert rows["tiles"]["overdue_wait"].startswith("tiles has waited 6 h for collect-b")
    assert rows["build"]["overdue_wait"] is None  # 24 h by default
    assert rows["quiet"]["overdue_wait"] is None  # max_wait: none

    # 24 h after collect-a's success, build's wait is overdue too: one alert
    later(timedelta(hours=17, minutes=20))
    tick(lambda_context)
    tick(lambda_context)
    build_alerts = [t for t in about(slack, "waited") if t.startswith(":hourglass: build")]
    assert build_alerts == [
        ":hourglass: build has waited 24 h for collect-b: FAILED 01:42;"
        " quiet, tiles also wait on it"
    ]

    # collect-b is re-run and succeeds: both start, and each gets one "started" follow-up
    record(finished("collect-b", trigger="manual"), lambda_context)
    assert len(upstream_runs(store, "build")) == 1 and len(upstream_runs(store, "tiles")) == 1
    tick(lambda_context)
    tick(lambda_context)
    started = [t for t in slack.headlines() if "started" in t]
    assert sorted(t.split()[1] for t in started) == ["build", "tiles"], started
    assert all("after waiting" in t for t in started)
    rows = {row["job"]: row for row in status_rows(load_catalogue())}
    assert rows["tiles"]["overdue_wait"] is None and rows["build"]["overdue_wait"] is None


def test_one_jobs_failing_wait_check_does_not_stop_the_others(
    store: RunStore, slack: FakeSlack, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.catalogue import upstream
    from batchcron.scheduling import waits

    record(finished("collect-a"), lambda_context)
    record(finished("collect-b", "FAILED"), lambda_context)
    later(timedelta(hours=25))
    original = upstream.overdue_wait

    def broken(job: Any, states: Any, now: Any) -> Any:
        if job.name == "build":
            raise RuntimeError("this job's check fails")
        return original(job, states, now)

    monkeypatch.setattr(waits, "overdue_wait", broken)
    tick(lambda_context)
    assert [t.split()[1] for t in about(slack, "waited")] == ["tiles"]


def test_the_status_command_and_page_show_an_overdue_wait(
    store: RunStore, slack: FakeSlack, lambda_context: Any, aws_env: Any
) -> None:
    from batchcron.ui.app import Request, StatusPage
    from batchcron.ui.source import Source

    record(finished("collect-b", "FAILED"), lambda_context)
    later(timedelta(hours=7))
    page = StatusPage(
        Source(region="eu-west-2", log_group=aws_env.log_group, console_links=False),
        port=8323,
        token="t0ken",
    )
    grid = page.handle(Request.from_target("GET", "/", {"host": "127.0.0.1:8323"})).body.decode()
    assert 'data-overdue="tiles"' in grid
    assert "overdue: tiles has waited 7 h for collect-b: FAILED" in grid
    assert "1 waiting too long" in grid
