"""Deadlines and auto-pause through the tick and the job-state path under moto, Slack on
127.0.0.1: a missed deadline alerts once across duplicated ticks, a late finish is followed up
once, a job pauses itself after N failures in a row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from batchcron.adapters.batch import Batch
from batchcron.adapters.slack import Slack
from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import Catalogue
from batchcron.outcomes.events import parse_event
from batchcron.outcomes.notify import Notifier
from batchcron.outcomes.record import Recorder
from batchcron.scheduling.deadlines import DeadlineChecks, missed_now
from batchcron.scheduling.dispatch import Dispatcher
from batchcron.scheduling.submit import Submitter
from batchcron.settings import settings
from batchcron.store import checks
from batchcron.store.runs import RunStore
from tests.batch_events import batch_event, from_batch
from tests.integration.outcomes.test_job_state import Calls, FakeSlack

CATALOGUE = """
jobs:
  nightly:
    repository: digital-land/nightly-collection
    schedule: "0 1 * * *"
    deadline: "07:00"
  builder:
    repository: digital-land/entity-builder
    after:
      jobs: [nightly]
    deadline_minutes: 90
  flaky:
    repository: digital-land/flaky-collection
    schedule: "0 2 * * *"
    pause_after_failures: 2
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


class World:
    def __init__(self, aws_env: Any, slack: FakeSlack, catalogue: Catalogue) -> None:
        secrets = boto3.client("secretsmanager")
        secrets.put_secret_value(SecretId=aws_env.slack_secret_arn, SecretString=slack.url())
        self.catalogue = catalogue
        self.clock = Clock(at(0, 30))
        self.client = boto3.client("dynamodb")
        self.calls = Calls(self.client)
        self.store = RunStore(settings().runs_table, self.client)
        self.notifier = Notifier(
            self.store, settings(), catalogue=lambda: catalogue, slack=Slack(retries=1, backoff=0)
        )
        self.submitter = Submitter(self.store, Batch(), settings(), clock=self.clock)
        self.recorder = Recorder(
            catalogue, self.store, self.notifier, submitter=lambda: self.submitter
        )
        self.dispatcher = Dispatcher(
            catalogue,
            self.store,
            self.submitter,
            workers=1,
            clock=self.clock,
            notify_text=self.notifier.send_text,
        )

    def tick(self, moment: datetime) -> Any:
        self.clock.now = moment
        return self.dispatcher.tick(moment)

    def record(self, event: dict[str, Any]) -> Any:
        return self.recorder.record(parse_event(from_batch(event, self.store)))


@pytest.fixture
def slack() -> Any:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def world(aws_env: Any, slack: FakeSlack) -> World:
    return World(aws_env, slack, parse_catalogue(CATALOGUE))


def nightly(slack: FakeSlack) -> list[str]:
    return [text for text in slack.headlines() if text.startswith(":alarm_clock: nightly")]


def event(status: str, run_id: str, started: datetime, job: str = "nightly", **kw: Any) -> Any:
    finished = 1 if status in ("SUCCEEDED", "FAILED") else 0
    found = batch_event(
        status, finished, job=job, run_id=run_id, start=started - timedelta(minutes=1), **kw
    )
    found["time"] = started.isoformat().replace("+00:00", "Z")
    return found


def test_a_missed_deadline_alerts_once_and_its_late_finish_is_followed_up_once(
    world: World, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the nightly run submitted at its 01:00 slot and RUNNING since 05:12
    world.tick(at(0, 59))
    world.tick(at(1, 0))
    run_id = "nightly-20261201T010000"
    assert world.store.get_run("nightly", run_id) is not None
    world.record(event("RUNNING", run_id, at(5, 12)))
    # (its start lag, slot 01:00 -> RUNNING 05:12, as an EMF metric with the job as dimension)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert [(m["job"], m["StartLagSeconds"]) for m in emitted] == [("nightly", [15120.0])]
    assert emitted[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["job"]]

    # When ticks pass 07:00, one of them twice (a duplicated invocation)
    for moment in (at(6, 59), at(7, 0), at(7, 0), at(7, 1)):
        world.tick(moment)

    # Then one alert says what it is doing and for how long
    assert nightly(slack) == [
        ":alarm_clock: nightly not finished by 07:00 (RUNNING since 05:12, 1 h 48 min)"
    ]
    assert list(missed_now(world.store, [world.catalogue.jobs["nightly"]])) == ["nightly"]

    # When it succeeds at 07:12 (and Batch delivers the event twice)
    done = event("SUCCEEDED", run_id, at(7, 7))  # its attempt runs 07:07 -> 07:12
    world.record(done)
    world.record(done)
    world.tick(at(7, 13))

    # Then one follow-up, and the deadline is met now
    assert nightly(slack)[1:] == [
        f":alarm_clock: nightly finished at 07:12, 12 min after its 07:00 deadline ({run_id})"
    ]
    assert missed_now(world.store, [world.catalogue.jobs["nightly"]]) == {}


def test_waiting_for_a_failed_upstream_and_caught_up_after_missed_ticks(
    world: World, slack: FakeSlack
) -> None:
    # Given nightly's 01:00 run FAILED at 01:42, so builder (after nightly) never started
    world.tick(at(0, 59))
    world.tick(at(1, 0))
    run_id = "nightly-20261201T010000"
    world.record(event("FAILED", run_id, at(1, 37), exit_code=2))
    slack.accepted.clear()

    # When no tick runs from 01:05 until 09:00 (an outage), then two at once
    world.tick(at(1, 5))
    world.tick(at(9, 0))
    world.tick(at(9, 0))

    # Then builder's deadline (90 min after the 01:00 upstream slot) and nightly's are alerted
    # once each, in the catch-up
    assert sorted(slack.headlines()) == [
        ":alarm_clock: builder not finished by 02:30 (90 min after its upstream slot) "
        "(not started: waiting for nightly, FAILED 01:42)",
        ":alarm_clock: nightly not finished by 07:00 (FAILED 01:42)",
    ]


def test_a_job_with_no_run_in_the_cycle_says_since_when(world: World, slack: FakeSlack) -> None:
    world.store.update_job_state(
        "nightly", {"last_finished_at": "2026-11-28T01:20:00.000Z", "last_status": "SUCCEEDED"}
    )
    result = DeadlineChecks(world.catalogue, world.store, world.notifier.send_text).check(
        at(6, 0), at(7, 0)
    )

    assert result.alerted == ["nightly@20261201T010000Z"]
    assert slack.headlines() == [
        ":alarm_clock: nightly not finished by 07:00 (no run since 2026-11-28)"
    ]


def test_a_failing_check_is_logged_and_the_others_go_on(
    world: World, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = checks.mark

    def mark(table: Any, job: str, *args: Any, **kwargs: Any) -> bool:
        if job == "builder":
            raise RuntimeError("boom")
        return real(table, job, *args, **kwargs)

    monkeypatch.setattr(checks, "mark", mark)
    result = DeadlineChecks(world.catalogue, world.store, world.notifier.send_text).check(
        at(0, 30), at(7, 0)
    )

    assert result.failed == 1
    assert result.alerted == ["nightly@20261201T010000Z"]


def test_a_tick_whose_deadline_check_fails_still_submits_due_slots(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("the deadline check broke")

    monkeypatch.setattr(DeadlineChecks, "check", broken)
    world.tick(at(0, 59))
    world.tick(at(1, 0))

    assert world.store.get_run("nightly", "nightly-20261201T010000") is not None


def test_a_tick_with_2000_jobs_and_200_deadlines_costs_calls_only_for_those_due(
    aws_env: Any,
) -> None:
    lines = ["jobs:"]
    for number in range(2000):
        lines += [f"  job-{number:04d}:", f"    repository: acme/job-{number:04d}"]
        lines.append(f'    schedule: "{number % 60} {number % 24} * * *"')
        if number % 10 == 0:
            lines.append(f'    deadline: "{(number // 10) % 24:02d}:30"')
    catalogue = parse_catalogue("\n".join(lines) + "\n")
    client = boto3.client("dynamodb")
    calls = Calls(client)
    store = RunStore(settings().runs_table, client)
    deadline_checks = DeadlineChecks(catalogue, store)

    # A minute with no deadline in it: no AWS call at all
    assert deadline_checks.check(at(6, 0), at(6, 1)).due == 0
    assert calls.take() == []

    # The minute of 07:30: the deadlines at 07:30 (job-0070, -0310, ... ; 9 of the 200)
    result = deadline_checks.check(at(7, 29), at(7, 30))
    made = calls.take()
    assert result.due == 9 and len(result.alerted) == 9
    assert made.count("BatchGetItem") == 1
    assert len(made) <= 1 + 2 * result.due


def test_auto_pause_after_n_failures_in_a_row_alerts_once(world: World, slack: FakeSlack) -> None:
    # Given flaky (pause_after_failures: 2) fails two days running
    for day in (1, 2):
        world.tick(at(1, 59, day))
        world.tick(at(2, 0, day))
        run_id = f"flaky-202612{day:02d}T020000"
        world.record(event("FAILED", run_id, at(2, 5, day), job="flaky", exit_code=1))

    # Then it is paused, by batchcron and why, with one alert saying how to resume
    state = world.store.job_state("flaky")
    assert state.paused and state.paused_by == "batchcron"
    assert state.paused_reason == "2 failures in a row (pause_after_failures: 2)"
    headlines = slack.headlines()
    assert headlines[-1] == ":double_vertical_bar: flaky paused after 2 failures in a row"
    assert headlines.count(headlines[-1]) == 1
    body = json.dumps(slack.accepted[-1][1])
    assert "batchcron resume flaky" in body and "Cost" in body

    # And its next slot does not run
    world.tick(at(1, 59, 3))
    world.tick(at(2, 0, 3))
    assert world.store.get_run("flaky", "flaky-20261203T020000") is None
