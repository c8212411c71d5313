"""Huge inputs are recorded and alerted: 100 KB status reasons on every attempt, a hand-submitted
job with a 3,000-character REPOSITORY (its key bounded, still unique)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from batchcron.catalogue.loading import parse_catalogue
from batchcron.models import MAX_KEY_CHARS
from tests.batch_events import batch_event
from tests.fault_injection.fake_slack import over_limits
from tests.integration.outcomes.test_job_state import CATALOGUE, FakeSlack, World, run_items


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def world(aws_env: Any, slack: FakeSlack) -> World:
    return World(aws_env, slack, parse_catalogue(CATALOGUE))


HUGE = "Essential container in task exited; " + "x" * 100_000


def _huge_reasons(event: dict[str, Any]) -> dict[str, Any]:
    for attempt in event["detail"]["attempts"]:
        attempt["statusReason"] = HUGE
        attempt["container"]["reason"] = HUGE
    return event


def test_four_attempts_with_100kb_reasons_are_recorded_and_alerted(
    world: World, slack: FakeSlack
) -> None:
    world.claim("parish", "parish-20260101T000000")
    event = _huge_reasons(batch_event("FAILED", 4, max_attempts=4, reason=HUGE))
    result = world.record(event)
    assert result.applied and result.alert_sent
    run = world.run("parish", "parish-20260101T000000")
    assert run.reason is not None and run.reason.endswith("[truncated]")
    assert len(run.reason.encode()) <= 2048
    assert len(run.attempts) == 4
    assert all((a.reason or "").endswith("[truncated]") for a in run.attempts)
    assert [over_limits(body) for _, body in slack.accepted] == [[]]


def _hand_submitted(repository: str, job_id: str) -> dict[str, Any]:
    return batch_event(
        "FAILED",
        1,
        job=None,
        job_id=job_id,
        job_name="by-hand-20260101",
        repository=repository,
        reason=HUGE,
    )


def test_hand_submitted_job_with_a_3000_character_repository_is_recorded(
    world: World, slack: FakeSlack
) -> None:
    first = "r" * 2999 + "a"
    second = "r" * 2999 + "b"
    one = world.record(_hand_submitted(first, "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa"))
    two = world.record(_hand_submitted(second, "22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb"))
    assert one.applied and two.applied
    assert one.job != two.job  # bounded, still unique
    assert len(one.job) <= MAX_KEY_CHARS and one.job.startswith("rrrr")
    recorded = world.run(one.job, one.run_id)
    assert recorded.foreign and recorded.repository is not None
    assert len(recorded.repository) <= 150
    assert one.alert_sent and two.alert_sent
    assert len(slack.accepted) == 2
    assert all(over_limits(body) == [] for _, body in slack.accepted)
    items = run_items(world.client, world.aws_env.runs_table)
    assert all(len(item["pk"]["S"].encode()) <= 2048 for item in items)
