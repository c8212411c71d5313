"""JobStateFunction under moto, with a fake Slack on 127.0.0.1: ordered recording, per-job
state, alerts delivered once."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchcron.adapters.batch import Batch
from batchcron.adapters.slack import Slack, SlackError
from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import Catalogue
from batchcron.handlers.job_state import handler
from batchcron.models import Run, Status
from batchcron.outcomes.alerting import log_stream_url, texts
from batchcron.outcomes.events import BadJobStateEventError, interpret, parse_event
from batchcron.outcomes.notify import Notifier
from batchcron.outcomes.record import Recorder
from batchcron.scheduling.dispatch import Dispatcher
from batchcron.scheduling.submit import Submitter
from batchcron.settings import settings as app_settings
from batchcron.store.runs import ALERTS, RunStore
from tests.batch_events import STUCK, batch_event, lifecycle
from tests.conftest import load_event

CATALOGUE = """
jobs:
  parish:
    repository: digital-land/parish-collection
    schedule: "0 0 1 * *"
    attempts: 2
  historic-england:
    repository: digital-land/historic-england-collection
    schedule: "0 0 1 * *"
  queued:
    repository: acme/queued
    concurrency: queue
  quiet:
    repository: acme/quiet
    notify: {enabled: false}
  routed:
    repository: acme/routed
    notify: {slack_webhook_secret: batchcron/slack/routed}
"""


# --- a fake Slack ----------------------------------------------------------------------------


class FakeSlack:
    """An incoming-webhook endpoint on 127.0.0.1: answers 503 while `down`, else records the
    message and answers 200 "ok"."""

    def __init__(self) -> None:
        self.down = False
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.refused = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if fake.down:
                    fake.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"service unavailable")
                    return
                fake.accepted.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/services/T000/B000/XXXX") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def headlines(self, path: str | None = None) -> list[str]:
        return [body["text"] for where, body in self.accepted if path is None or where == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


class Calls:
    """Counts DynamoDB API calls made through one client."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        taken, self.names = self.names, []
        return taken


class World:
    """Recorder, notifier, submitter and dispatcher on moto, Slack on 127.0.0.1."""

    def __init__(self, aws_env: Any, slack: FakeSlack, catalogue: Catalogue) -> None:
        secrets = boto3.client("secretsmanager")
        secrets.put_secret_value(SecretId=aws_env.slack_secret_arn, SecretString=slack.url())
        secrets.create_secret(Name="batchcron/slack/routed", SecretString=slack.url("/routed"))
        self.aws_env = aws_env
        self.catalogue = catalogue
        self.client = boto3.client("dynamodb")
        self.calls = Calls(self.client)
        self.store = RunStore(app_settings().runs_table, self.client)
        self.notifier = Notifier(
            self.store,
            app_settings(),
            catalogue=lambda: catalogue,
            slack=Slack(retries=1, backoff=0),
        )
        self.submitter = Submitter(
            self.store, Batch(), app_settings(), on_alert=self.notifier.on_alert
        )
        self.recorder = Recorder(
            catalogue, self.store, self.notifier, submitter=lambda: self.submitter
        )

    def record(self, event: dict[str, Any]) -> Any:
        return self.recorder.record(parse_event(event))

    def run(self, job: str, run_id: str) -> Run:
        found = self.store.get_run(job, run_id)
        assert found is not None
        return found

    def claim(self, job: str, run_id: str, *, active: bool = True) -> None:
        """A run as the submit path leaves it after SubmitJob."""
        run = Run(
            job=job,
            run_id=run_id,
            trigger="schedule",
            status=Status.SUBMITTED,
            created_at="2026-01-01T00:00:00.000Z",
            slot="2026-01-01T00:00:00.000Z",
            repository=self.catalogue.jobs[job].repository if job in self.catalogue.jobs else None,
            max_attempts=2,
        )
        assert self.store.claim_run(run)
        if active:
            self.store.update_job_state(job, {"active_run_id": run_id})


@pytest.fixture
def world(aws_env: Any, slack: FakeSlack) -> World:
    return World(aws_env, slack, parse_catalogue(CATALOGUE))


def run_items(client: Any, table: str) -> list[dict[str, Any]]:
    items = client.scan(TableName=table)["Items"]
    return [item for item in items if item["sk"]["S"].startswith("RUN#")]


# --- recording -------------------------------------------------------------------------------


def test_full_lifecycle_with_a_retried_attempt(world: World, slack: FakeSlack) -> None:
    # Given a scheduled run batchcron submitted and made the active one
    world.claim("parish", "parish-20260101T000000")

    # When Batch reports every state, including a retry of the first attempt
    for event in lifecycle("FAILED"):
        world.record(event)

    # Then the run holds both attempts and the final outcome
    run = world.run("parish", "parish-20260101T000000")
    assert run.status == Status.FAILED
    assert run.reason == "Essential container in task exited"
    assert [(a.exit_code, a.log_stream) for a in run.attempts] == [
        (1, "batchcron/default/task1"),
        (2, "batchcron/default/task2"),
    ]
    assert (run.exit_code, run.log_stream, run.duration_seconds) == (
        2,
        "batchcron/default/task2",
        300,
    )
    assert run.started_at == "2026-01-01T00:11:01.000Z"
    assert run.stopped_at == "2026-01-01T00:16:01.000Z"
    assert run.batch_job_id == "8d2f6a41-93c7-4b0e-a5d2-6e1f0c7b9a34"
    # ...the overlap guard is released and the failure counted
    state = world.store.job_state("parish")
    assert state.active_run_id is None
    assert state.consecutive_failures == 1
    assert state.last_failure_at == "2026-01-01T00:16:01.000Z"
    assert state.last_status == "FAILED"
    # ...and exactly one alert reached Slack, the retry did not alert
    assert slack.headlines() == [":x: parish failed"]
    assert run.alert is not None and run.alert.state == "sent"
    assert run not in world.store.outbox(until=datetime.now(UTC) + timedelta(days=1))


def test_sample_events_through_the_handler(
    aws_env: Any, slack: FakeSlack, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("batchcron.adapters.slack.DEFAULT_BACKOFF", 0)
    boto3.client("secretsmanager").put_secret_value(
        SecretId=aws_env.slack_secret_arn, SecretString=slack.url()
    )

    # Given the runs batchcron claimed (the samples' job names are the run ids)
    world_store = RunStore(aws_env.runs_table)
    for run_id in ("parish-20260101T000000", "parish-20260201T000000"):
        world_store.claim_run(
            Run(
                job="parish",
                run_id=run_id,
                trigger="schedule",
                status=Status.CLAIMED,
                created_at=f"{run_id[7:11]}-{run_id[11:13]}-01T00:00:00.000Z",
            )
        )

    running = handler(load_event("batch_job_running.json"), lambda_context)
    failed = handler(load_event("batch_job_failed.json"), lambda_context)
    succeeded = handler(load_event("batch_job_succeeded.json"), lambda_context)

    assert running == {
        "job": "parish",
        "run_id": "parish-20260101T000000",
        "status": "RUNNING",
        "applied": True,
    }
    assert failed["alert"] == "failed" and failed["alert_sent"] is True
    assert succeeded["alert"] == "recovered" and succeeded["alert_sent"] is True
    assert slack.headlines() == [
        ":x: parish failed",
        ":white_check_mark: parish recovered (after 1 failure)",
    ]
    # The log link is for the run's region, the stack's job log group and the exact stream.
    link = log_stream_url(
        "eu-west-2", aws_env.log_group, "batchcron/default/7e6d5c4b3a2f4e1d9c8b7a6f5e4d3c2b"
    )
    assert link in texts(slack.accepted[0][1])


def test_duplicate_event_changes_nothing_and_alerts_once(world: World, slack: FakeSlack) -> None:
    world.claim("parish", "parish-20260101T000000")
    final = lifecycle("FAILED")[-1]

    first = world.record(final)
    before = world.run("parish", "parish-20260101T000000")
    again = world.record(final)

    assert first.applied and not again.applied
    assert world.run("parish", "parish-20260101T000000") == before
    assert world.store.job_state("parish").consecutive_failures == 1
    assert slack.headlines() == [":x: parish failed"]


def test_older_event_after_terminal_is_ignored(world: World) -> None:
    world.claim("parish", "parish-20260101T000000")
    events = lifecycle("SUCCEEDED")

    world.record(events[-1])
    world.record(events[2])  # a late RUNNING

    assert world.run("parish", "parish-20260101T000000").status == Status.SUCCEEDED


_ids = itertools.count()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_shuffled_and_duplicated_events_give_the_same_record_and_alerts(
    world: World, slack: FakeSlack, data: Any
) -> None:
    # Given two runs of a fresh job: one fails, the next succeeds
    n = next(_ids)
    job = f"shuffle-{n}"
    outcomes = []
    for i, final in enumerate(("FAILED", "SUCCEEDED")):
        run_id = f"{job}-2026010{i + 1}T000000"
        world.claim(job, run_id, active=False)  # its job name is the run id: a claim re-driven
        events = lifecycle(final, job=job, run_id=run_id, job_id=f"{n}-{i}")
        extra = data.draw(st.lists(st.sampled_from(events), max_size=5))
        shuffled = data.draw(st.permutations(events + extra))

        # When each run's events arrive in any order, some twice
        for event in shuffled:
            world.record(event)

        # Then the record is what the events in order give
        expected = None
        for event in events:
            from batchcron.outcomes.events import apply

            expected = apply(expected, interpret(parse_event(event), world.catalogue)) or expected
        assert expected is not None
        recorded = world.run(job, run_id)
        fields = set(interpret(parse_event(events[-1]), world.catalogue).fields) | {"order"}
        assert recorded.model_dump(include=fields) == expected.model_dump(include=fields)
        outcomes.append(recorded.status)

    # ...and the alerts are the same as in order: failed, then recovered
    assert outcomes == [Status.FAILED, Status.SUCCEEDED]
    mine = [text for text in slack.headlines() if f" {job} " in f" {text} "]
    assert mine == [f":x: {job} failed", f":white_check_mark: {job} recovered (after 1 failure)"]


def test_foreign_job_is_recorded_under_its_catalogue_job(world: World, slack: FakeSlack) -> None:
    # Given a job submitted by hand with `aws batch submit-job`: no batchcron tags
    name = "historic-england-collection"
    kwargs: dict[str, Any] = {
        "job": None,
        "job_name": name,
        "repository": "historic-england-collection",
        "job_id": "c0ffee00-1111-2222-3333-444455556666",
    }

    # When it runs, then fails
    world.record(batch_event("RUNNING", 0, **kwargs))
    running_state = world.store.job_state("historic-england")
    world.record(batch_event("FAILED", 1, exit_code=1, **kwargs))

    # Then it is a run of job historic-england, and counted for its overlap guard and status
    run = world.run("historic-england", f"{name}-c0ffee00")
    assert run.foreign
    assert run.trigger == "manual"
    assert run.status == Status.FAILED
    assert run.repository == "digital-land/historic-england-collection"
    assert running_state.active_run_id == f"{name}-c0ffee00"
    state = world.store.job_state("historic-england")
    assert state.active_run_id is None
    assert state.consecutive_failures == 1
    assert slack.headlines() == [":x: historic-england failed"]
    assert "submitted outside batchcron" in texts(slack.accepted[0][1])


def test_foreign_job_without_repository_uses_its_name(world: World) -> None:
    event = batch_event("SUCCEEDED", 1, job=None, job_name="tiles-20260101T0400", repository=None)

    result = world.record(event)

    assert result.job == "tiles"
    assert world.run("tiles", result.run_id).foreign


# --- slack -----------------------------------------------------------------------------------


def test_slack_down_then_up_delivers_exactly_one_alert(world: World, slack: FakeSlack) -> None:
    world.claim("parish", "parish-20260101T000000")
    final = lifecycle("FAILED")[-1]

    # Given Slack is down: the record is written, the alert stays pending, the function raises
    slack.down = True
    with pytest.raises(SlackError):
        world.record(final)
    run = world.run("parish", "parish-20260101T000000")
    assert run.status == Status.FAILED
    assert run.alert is not None and run.alert.state == "pending"
    assert run.alert.attempts == 1 and run.alert.next_attempt_at is not None
    later = datetime.now(UTC) + timedelta(hours=1)
    assert [r.run_id for r in world.store.outbox(until=later, queue=ALERTS)] == [run.run_id]

    # ...a Lambda retry before the alert's next attempt is due changes nothing, sends nothing
    refused = slack.refused
    assert world.record(final).alert_sent is False
    assert slack.refused == refused
    assert world.store.job_state("parish").consecutive_failures == 1

    # When Slack is back, a dispatcher tick re-sends the pending alert once its time has come
    slack.down = False
    world.notifier.clock = lambda: later
    dispatcher = Dispatcher(
        world.catalogue,
        world.store,
        world.submitter,
        deliver_alert=world.notifier.deliver,
        clock=lambda: later,
    )
    assert dispatcher.tick(later).alerts_sent == 1

    # ...and neither another tick nor a redelivered event sends it again
    assert dispatcher.tick(later + timedelta(minutes=1)).alerts_sent == 0
    assert world.record(final).alert is None
    assert slack.headlines() == [":x: parish failed"]
    assert slack.refused >= 1
    assert world.store.outbox(until=later + timedelta(days=1), queue=ALERTS) == []


def test_redelivered_event_sends_a_still_pending_alert(world: World, slack: FakeSlack) -> None:
    world.claim("parish", "parish-20260101T000000")
    final = lifecycle("FAILED")[-1]
    slack.down = True
    with pytest.raises(SlackError):
        world.record(final)

    slack.down = False
    world.notifier.clock = lambda: datetime.now(UTC) + timedelta(hours=2)  # a later retry
    result = world.record(final)

    assert (result.alert, result.alert_sent) == ("failed", True)
    assert slack.headlines() == [":x: parish failed"]


def test_failed_still_failing_recovered_across_runs(world: World, slack: FakeSlack) -> None:
    for day, final in enumerate(["FAILED", "FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"], 1):
        run_id = f"parish-202601{day:02d}T000000"
        world.claim("parish", run_id)
        world.record(lifecycle(final, run_id=run_id, job_id=f"job-{day}")[-1])

    assert slack.headlines() == [
        ":x: parish failed",
        ":x: parish still failing (2 in a row)",
        ":white_check_mark: parish recovered (after 3 failures)",
    ]
    state = world.store.job_state("parish")
    assert state.consecutive_failures == 0
    assert state.last_success_at is not None and state.last_failure_at is not None


def test_stuck_in_runnable_cancellation_alerts_as_stuck(world: World, slack: FakeSlack) -> None:
    world.claim("parish", "parish-20260101T000000")
    reason = STUCK

    world.record(batch_event("RUNNABLE", 0))
    world.record(batch_event("FAILED", 0, reason=reason))

    assert slack.headlines() == [":hourglass: parish stuck in RUNNABLE and cancelled"]
    assert "no capacity was available" in texts(slack.accepted[0][1])
    assert world.run("parish", "parish-20260101T000000").alert.kind == "stuck"  # type: ignore[union-attr]


def test_a_cancelled_run_is_cancelled_without_alert_or_streak(
    world: World, slack: FakeSlack
) -> None:
    # Given a failure streak of one and a running run
    world.claim("parish", "parish-20260101T000000", active=False)
    world.record(lifecycle("FAILED", run_id="parish-20260101T000000", job_id="job-1")[-1])
    world.claim("parish", "parish-20260102T000000")
    world.record(batch_event("RUNNING", 0, run_id="parish-20260102T000000", job_id="job-2"))
    # When `batchcron cancel` terminates it: Batch reports FAILED with the terminate reason
    world.record(
        batch_event(
            "FAILED",
            0,
            run_id="parish-20260102T000000",
            job_id="job-2",
            reason="batchcron: cancelled by alice",
        )
    )
    # Then
    run = world.run("parish", "parish-20260102T000000")
    assert run.status == Status.CANCELLED and run.alert is None
    assert slack.headlines() == [":x: parish failed"]  # the earlier failure only
    state = world.store.job_state("parish")
    assert state.consecutive_failures == 1  # neither a failure nor a success
    assert state.active_run_id is None  # the overlap guard is released


def test_no_webhook_configured_skips_alerts_but_records(
    world: World, slack: FakeSlack, aws_env: Any
) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=aws_env.slack_secret_arn, SecretString="unset"
    )
    from batchcron.adapters import secrets

    secrets.reset()
    world.claim("parish", "parish-20260101T000000")

    world.record(lifecycle("FAILED")[-1])

    run = world.run("parish", "parish-20260101T000000")
    assert run.status == Status.FAILED
    assert run.alert is not None and run.alert.state == "skipped"
    assert slack.accepted == []
    assert world.store.outbox(until=datetime.now(UTC) + timedelta(days=1)) == []


def test_job_webhook_secret_routes_its_alerts(world: World, slack: FakeSlack) -> None:
    world.claim("routed", "routed-20260101T000000")

    world.record(lifecycle("FAILED", job="routed", run_id="routed-20260101T000000")[-1])

    assert slack.headlines("/routed") == [":x: routed failed"]
    assert slack.headlines("/services/T000/B000/XXXX") == []


def test_notify_disabled_records_without_alert(world: World, slack: FakeSlack) -> None:
    world.claim("quiet", "quiet-20260101T000000")

    world.record(lifecycle("FAILED", job="quiet", run_id="quiet-20260101T000000")[-1])

    assert world.run("quiet", "quiet-20260101T000000").alert is None
    assert slack.accepted == []


def test_submit_path_alerts_go_through_the_same_delivery(world: World, slack: FakeSlack) -> None:
    job = world.catalogue.jobs["parish"]
    run = Run(
        job="parish",
        run_id="parish-20251201T000000",
        trigger="schedule",
        status=Status.CLAIMED,
        created_at="2025-12-01T00:00:00.000Z",
    )
    assert world.store.claim_run(run)

    world.submitter.miss(job, run, "past its starting deadline (60 min)")

    assert slack.headlines() == [":warning: parish missed a scheduled run"]
    assert world.run("parish", run.run_id).alert.state == "sent"  # type: ignore[union-attr]


# --- per-job state ---------------------------------------------------------------------------


def test_queued_run_is_submitted_when_the_active_one_ends(world: World) -> None:
    # Given a queue job with an active run and one pending behind it
    world.claim("queued", "queued-active")
    pending = Run(
        job="queued",
        run_id="queued-pending",
        trigger="manual",
        status=Status.QUEUED,
        created_at="2026-01-01T00:05:00.000Z",
    )
    assert world.store.claim_run(pending)
    world.store.update_job_state("queued", {"pending_run_id": "queued-pending"})

    # When the active run ends
    result = world.record(lifecycle("SUCCEEDED", job="queued", run_id="queued-active")[-1])

    # Then the pending run is submitted through the submit path and becomes the active one
    assert result.started_pending == "queued-pending"
    started = world.run("queued", "queued-pending")
    assert started.status == Status.SUBMITTED
    assert started.batch_job_id
    state = world.store.job_state("queued")
    assert (state.active_run_id, state.pending_run_id) == ("queued-pending", None)


def test_terminal_event_of_another_run_keeps_the_active_one(world: World) -> None:
    world.claim("parish", "parish-20260201T000000")
    world.claim("parish", "parish-20260101T000000", active=False)

    world.record(lifecycle("FAILED")[-1])

    state = world.store.job_state("parish")
    assert state.active_run_id == "parish-20260201T000000"
    assert state.consecutive_failures == 1


# --- cost and safety -------------------------------------------------------------------------


def test_dynamodb_calls_per_event_stay_within_budget(world: World) -> None:
    world.claim("parish", "parish-20260101T000000")
    events = lifecycle("FAILED")
    world.calls.take()

    # Each event: the read of the run its tags name (is this batchcron's job?), its own
    # writes, then the grid's cell of the run (GetItem + UpdateItem of the job's RECENT item).
    for event in events[:-1]:
        world.record(event)
        assert len(world.calls.take()) <= 1 + 2 + 2
    world.record(events[-1])  # terminal, with an alert
    assert len(world.calls.take()) <= 1 + 4 + 2


def test_malformed_event_writes_nothing(aws_env: Any, lambda_context: Any) -> None:
    event = load_event("batch_job_failed.json")
    del event["detail"]["jobQueue"]

    with pytest.raises(BadJobStateEventError, match="jobQueue"):
        handler(event, lambda_context)

    assert run_items(boto3.client("dynamodb"), aws_env.runs_table) == []


def test_crash_after_counting_is_finished_by_the_retry(
    world: World, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the function died after counting the outcome but before claiming the alert
    world.claim("parish", "parish-20260101T000000")
    final = lifecycle("FAILED")[-1]
    original = world.store.claim_alert

    def crash(*args: Any, **kwargs: Any) -> bool:
        raise TimeoutError("Lambda timed out")

    monkeypatch.setattr(world.store, "claim_alert", crash)
    with pytest.raises(TimeoutError):
        world.record(final)
    monkeypatch.setattr(world.store, "claim_alert", original)

    # When Lambda retries the event
    world.record(final)

    # Then the failure is counted once and alerted once
    assert world.store.job_state("parish").consecutive_failures == 1
    assert slack.headlines() == [":x: parish failed"]


def test_event_that_beats_the_submit_record_is_not_overwritten(world: World) -> None:
    # Given a claimed run whose RUNNING event arrives before the submit path records SUBMITTED
    run = Run(
        job="parish",
        run_id="parish-20260101T000000",
        trigger="schedule",
        status=Status.CLAIMED,
        created_at="2026-01-01T00:00:00.000Z",
    )
    assert world.store.claim_run(run, outbox_at=datetime.now(UTC))
    world.record(batch_event("RUNNING", 0))

    # When the submit path records the Batch job
    world.submitter.adopt(world.catalogue.jobs["parish"], run, "8d2f6a41", "queue-arn")

    # Then the newer status from Batch stands, and the run has left the outbox
    recorded = world.run("parish", run.run_id)
    assert recorded.status == Status.RUNNING
    assert recorded.batch_job_id == "8d2f6a41"
    assert world.store.outbox(until=datetime.now(UTC) + timedelta(days=1)) == []
