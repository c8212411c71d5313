"""Alert delivery against a fake Slack over real HTTP: a 429 moves the next attempt (no sleep),
a refusal or a day of failures ends the alert, a webhook that rate limited is spared the rest."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchcron.adapters.slack import Slack, SlackError, SlackRateLimitedError, SlackUnavailableError
from batchcron.models import Alert, Run, Status, iso, parse_time
from batchcron.outcomes.notify import GIVE_UP_AFTER, MAX_ATTEMPTS, Notifier, next_attempt
from batchcron.settings import settings
from batchcron.store.runs import ALERTS, RunStore
from tests.fault_injection.fake_slack import FakeSlack

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def store(aws_env: Any) -> RunStore:
    return RunStore(settings().runs_table)


def _notifier(store: RunStore, slack: FakeSlack, clock: Clock, **options: Any) -> Notifier:
    return Notifier(
        store,
        settings(),
        secret=lambda arn: slack.url,
        slack=Slack(retries=0, backoff=0, **options),
        clock=clock,
    )


def _failed_run(store: RunStore, run_id: str, created: datetime = T0) -> Run:
    run = Run(
        job="nightly",
        run_id=run_id,
        trigger="schedule",
        status=Status.FAILED,
        created_at=iso(created) or "",
        alert=Alert(kind="failed", created_at=iso(created)),
    )
    store.claim_run(run)
    store.update_run("nightly", run_id, {}, outbox_at=created, queue=ALERTS)
    return run


def _alert(store: RunStore, run_id: str) -> Alert:
    run = store.get_run("nightly", run_id)
    assert run is not None and run.alert is not None
    return run.alert


def test_429_moves_the_next_attempt_to_retry_after_without_sleeping(
    store: RunStore, slack: FakeSlack
) -> None:
    slack.set("429")
    slack.retry_after = 120
    clock = Clock(T0)
    notifier = _notifier(store, slack, clock)
    run = _failed_run(store, "nightly-1")
    with pytest.raises(SlackRateLimitedError):
        notifier.deliver(run, None)
    alert = _alert(store, "nightly-1")
    assert alert.state == "pending" and alert.attempts == 1
    assert alert.next_attempt_at == iso(T0 + timedelta(seconds=120))
    assert len(slack.received) == 1  # no retry in-process
    assert store.outbox(until=T0 + timedelta(seconds=119), queue=ALERTS) == []
    assert [r.run_id for r in store.outbox(until=T0 + timedelta(seconds=120), queue=ALERTS)] == [
        "nightly-1"
    ]


def test_alert_is_not_sent_before_its_next_attempt(store: RunStore, slack: FakeSlack) -> None:
    slack.set("503")
    clock = Clock(T0)
    notifier = _notifier(store, slack, clock)
    with pytest.raises(SlackUnavailableError):
        notifier.deliver(_failed_run(store, "nightly-1"), None)
    slack.set("ok")
    pending = store.get_run("nightly", "nightly-1")
    assert pending is not None
    assert notifier.deliver(pending, None) is False  # too early
    assert len(slack.received) == 1
    clock.now = T0 + timedelta(hours=1)
    assert notifier.deliver(pending, None) is True
    assert _alert(store, "nightly-1").state == "sent"


@pytest.mark.parametrize("mode", ["404", "403", "400"])
def test_permanent_refusal_fails_the_alert_at_once(
    store: RunStore, slack: FakeSlack, mode: Any
) -> None:
    slack.set(mode)
    notifier = _notifier(store, slack, Clock(T0))
    assert notifier.deliver(_failed_run(store, "nightly-1"), None) is False  # no raise: it ended
    alert = _alert(store, "nightly-1")
    assert alert.state == "failed" and alert.attempts == 1
    assert mode in (alert.error or "")
    assert store.outbox(until=T0 + timedelta(days=30), queue=ALERTS) == []


def test_alert_failing_for_a_day_is_given_up(store: RunStore, slack: FakeSlack) -> None:
    slack.set("503")
    clock = Clock(T0)
    notifier = _notifier(store, slack, clock)
    _failed_run(store, "nightly-1")
    tries = 0
    while True:
        run = store.get_run("nightly", "nightly-1")
        assert run is not None and run.alert is not None
        if run.alert.state != "pending":
            break
        clock.now = parse_time(run.alert.next_attempt_at or iso(T0) or "")
        notifier._held.clear()  # each try as a new invocation
        tries += 1
        with contextlib.suppress(SlackError):
            notifier.deliver(run, None)
    alert = _alert(store, "nightly-1")
    assert alert.state == "failed"
    assert tries >= MAX_ATTEMPTS and clock.now - T0 >= GIVE_UP_AFTER
    assert tries == len(slack.received) < 60


def test_webhook_that_rate_limited_is_spared_the_rest_of_the_tick(
    store: RunStore, slack: FakeSlack
) -> None:
    slack.set("429")
    slack.retry_after = 30
    notifier = _notifier(store, slack, Clock(T0))
    runs = [_failed_run(store, f"nightly-{i}") for i in range(5)]
    with pytest.raises(SlackRateLimitedError):
        notifier.deliver(runs[0], None)
    for run in runs[1:]:
        assert notifier.deliver(run, None) is False
    assert len(slack.received) == 1
    for run in runs:
        alert = _alert(store, run.run_id)
        assert alert.state == "pending"
        assert alert.next_attempt_at == iso(T0 + timedelta(seconds=30))
    assert [_alert(store, r.run_id).attempts for r in runs] == [1, 0, 0, 0, 0]


def test_hanging_slack_costs_one_short_timeout(store: RunStore, slack: FakeSlack) -> None:
    slack.set("slow", delay=5)
    notifier = _notifier(store, slack, Clock(T0), timeout=1)
    runs = [_failed_run(store, f"nightly-{i}") for i in range(3)]
    with pytest.raises(SlackUnavailableError):
        notifier.deliver(runs[0], None)
    for run in runs[1:]:
        assert notifier.deliver(run, None) is False
    assert len(slack.received) == 1
    assert _alert(store, "nightly-0").attempts == 1


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(5)
    waits = [next_attempt(n, None, rng) for n in range(1, 12)]
    assert timedelta(seconds=30) <= waits[0] <= timedelta(minutes=1)
    assert all(timedelta(minutes=30) <= w <= timedelta(hours=1) for w in waits[7:])
    assert len({w.total_seconds() for w in waits}) == len(waits)  # jittered
    assert next_attempt(1, 42, rng) == timedelta(seconds=42)
    assert next_attempt(1, 10**9, rng) == timedelta(hours=6)
