"""Slack app mode delivery against a fake Slack Web API over real HTTP: a failure streak is one
thread (its first failure top-level with buttons, follow-ups as replies), recovery edits the
first message, an acknowledged streak stops saying "still failing", and a rate limit or a 5xx
while replying defers the alert (no sleep) and the reply lands in the thread later."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchcron.adapters.slack import SlackRateLimitedError, SlackUnavailableError
from batchcron.models import Alert, Run, Status, iso
from batchcron.outcomes.notify import Notifier
from batchcron.settings import settings
from batchcron.store.runs import ALERTS, RunStore
from tests.fault_injection.fake_slack import FakeSlack

T0 = datetime(2026, 12, 2, 2, 14, tzinfo=UTC)
JOB = "entity-builder"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slack(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        monkeypatch.setenv("SLACK_API_URL", fake.api_url)
        monkeypatch.setenv("SLACK_CHANNEL", "C0ALERTS")
        settings.cache_clear()
        yield fake


@pytest.fixture
def store(aws_env: Any) -> RunStore:
    return RunStore(settings().runs_table)


def notifier(store: RunStore, clock: Clock) -> Notifier:
    def secret(arn: str) -> str:
        return "xoxb-test" if arn == settings().slack_bot_token_secret_arn else "unset"

    return Notifier(store, settings(), secret=secret, clock=clock)


def alerted_run(
    store: RunStore, run_id: str, kind: str, failures: int, status: Status = Status.FAILED
) -> Run:
    run = Run(
        job=JOB,
        run_id=run_id,
        trigger="schedule",
        status=status,
        created_at=iso(T0) or "",
        alert=Alert(kind=kind, failures=failures, created_at=iso(T0)),
    )
    store.claim_run(run)
    store.update_run(JOB, run_id, {}, outbox_at=T0, queue=ALERTS)
    found = store.get_run(JOB, run_id)
    assert found is not None
    return found


def test_a_streak_is_one_thread_and_recovery_edits_its_first_message(
    store: RunStore, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    send = notifier(store, clock)

    send.deliver(alerted_run(store, f"{JOB}-1", "failed", 1), None)
    send.deliver(alerted_run(store, f"{JOB}-2", "still_failing", 2), None)
    send.deliver(
        alerted_run(store, f"{JOB}-20261202T000000", "recovered", 2, Status.SUCCEEDED), None
    )

    first, reply, recovered = slack.calls_to("chat.postMessage")
    assert first["channel"] == "C0ALERTS" and "thread_ts" not in first
    [actions] = [b for b in first["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["rerun", "pause", "ack"]
    assert [e["value"] for e in actions["elements"]] == [JOB] * 3
    thread = "1764633600.000001"
    assert reply["thread_ts"] == thread and "still failing (2 in a row)" in reply["text"]
    assert recovered["thread_ts"] == thread and "recovered" in recovered["text"]
    [edit] = slack.calls_to("chat.update")
    assert (edit["channel"], edit["ts"]) == ("C0ALERTS", thread)
    status = edit["blocks"][-1]["elements"][0]["text"]
    assert status.endswith(f"recovered 02:14 by {JOB}-20261202T000000")
    assert not [b for b in edit["blocks"] if b["type"] == "actions"]  # no buttons any more
    state = store.job_state(JOB)
    assert state.slack_thread_ts is None  # the next failure starts a new thread


def test_a_new_streak_starts_a_new_thread(store: RunStore, slack: FakeSlack) -> None:
    send = notifier(store, Clock(T0))
    send.deliver(alerted_run(store, f"{JOB}-1", "failed", 1), None)
    send.deliver(alerted_run(store, f"{JOB}-2", "failed", 1), None)

    first, second = slack.calls_to("chat.postMessage")
    assert "thread_ts" not in first and "thread_ts" not in second
    assert store.job_state(JOB).slack_thread_run_id == f"{JOB}-2"


def test_an_acknowledged_streak_is_not_told_still_failing(
    store: RunStore, slack: FakeSlack
) -> None:
    send = notifier(store, Clock(T0))
    send.deliver(alerted_run(store, f"{JOB}-1", "failed", 1), None)
    store.update_job_state(JOB, {"slack_acked_by": "ada"})

    assert send.deliver(alerted_run(store, f"{JOB}-2", "still_failing", 2), None) is False

    assert len(slack.calls_to("chat.postMessage")) == 1
    run = store.get_run(JOB, f"{JOB}-2")
    assert run is not None and run.alert is not None and run.alert.state == "skipped"
    send.deliver(alerted_run(store, f"{JOB}-3", "recovered", 2, Status.SUCCEEDED), None)
    assert slack.calls_to("chat.postMessage")[-1]["thread_ts"] == "1764633600.000001"


@pytest.mark.parametrize(
    "mode, error", [("429", SlackRateLimitedError), ("503", SlackUnavailableError)]
)
def test_a_thread_reply_slack_refuses_for_now_is_deferred_and_later_lands_in_the_thread(
    store: RunStore, slack: FakeSlack, mode: Any, error: type[Exception]
) -> None:
    clock = Clock(T0)
    send = notifier(store, clock)
    send.deliver(alerted_run(store, f"{JOB}-1", "failed", 1), None)
    slack.set(mode)
    slack.retry_after = 90

    with pytest.raises(error):  # the job-state function fails; no sleep in-process
        send.deliver(alerted_run(store, f"{JOB}-2", "still_failing", 2), None)
    if mode == "429":  # as with a webhook, a rate-limited channel is spared the rest
        other = alerted_run(store, f"{JOB}-3", "still_failing", 3)
        assert send.deliver(other, None) is False  # no request: deferred
        assert len(slack.calls_to("chat.postMessage")) == 2

    pending = store.get_run(JOB, f"{JOB}-2")
    assert pending is not None and pending.alert is not None
    assert pending.alert.state == "pending" and pending.alert.attempts == 1
    if mode == "429":
        assert pending.alert.next_attempt_at == iso(T0 + timedelta(seconds=90))
    slack.set("ok")
    clock.now = T0 + timedelta(hours=2)
    fresh = notifier(store, clock)  # the next tick
    assert fresh.deliver(pending, None) is True
    assert slack.calls_to("chat.postMessage")[-1]["thread_ts"] == "1764633600.000001"


def test_a_permanent_refusal_fails_the_alert(store: RunStore, slack: FakeSlack) -> None:
    slack.set("404")  # channel_not_found
    send = notifier(store, Clock(T0))

    assert send.deliver(alerted_run(store, f"{JOB}-1", "failed", 1), None) is False

    run = store.get_run(JOB, f"{JOB}-1")
    assert run is not None and run.alert is not None
    assert run.alert.state == "failed" and "channel_not_found" in (run.alert.error or "")


def test_a_notice_goes_to_the_apps_channel(store: RunStore, slack: FakeSlack) -> None:
    from batchcron.catalogue.model import Job

    job = Job.model_validate(
        {"name": JOB, "repository": "digital-land/entity-builder", "script": "builder"}
    )
    send = notifier(store, Clock(T0))

    assert send.notice(job, "entity-builder has waited 2h for its upstreams") is True
    assert send.send_text(job, "entity-builder missed its 03:00 deadline") is True

    wait, deadline = slack.calls_to("chat.postMessage")
    assert wait["channel"] == deadline["channel"] == "C0ALERTS"
    assert "waited 2h" in wait["text"] and "missed its 03:00 deadline" in deadline["text"]
