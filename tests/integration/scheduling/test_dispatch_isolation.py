"""One fault stays with its item: a poison job among healthy ones, an outbox item that raises, a
tick from the future, a paused job with a failed submit, the outbox's budget and queues."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from batchcron.catalogue.loading import parse_catalogue
from batchcron.models import Alert, Run, Status, iso
from batchcron.scheduling.dispatch import FutureTickError, TickFailedError
from batchcron.scheduling.submit import REDRIVE_AFTER, definition_allowed
from batchcron.store.runs import ALERTS
from tests.integration.scheduling.test_dispatch import CATALOGUE, Clock, World, at

POISON = CATALOGUE.replace(
    "    attempts: 3",
    "    attempts: 3\n    job_queue: arn:aws:batch:eu-west-2:1:job-queue/not-allowed",
)


@pytest.fixture
def world(aws_env: Any) -> World:
    return World(parse_catalogue(CATALOGUE), Clock(at(0, 55)))


@pytest.fixture
def poisoned(aws_env: Any) -> World:
    return World(parse_catalogue(POISON), Clock(at(0, 55)))


def test_poison_job_fails_alone_and_the_watermark_advances(poisoned: World) -> None:
    poisoned.tick(at(0, 55))
    with pytest.raises(TickFailedError, match="nightly-20261102T010000"):
        poisoned.tick(at(1, 0))
    assert "ten-20261102T010000" in poisoned.names()
    assert poisoned.store.watermark() == at(1, 0)
    run = poisoned.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SUBMIT_FAILED
    assert [r.run_id for r in poisoned.alerts] == ["nightly-20261102T010000"]


def test_poison_job_is_never_recorded_missed_and_alerts_once(poisoned: World) -> None:
    poisoned.tick(at(0, 55))
    with pytest.raises(TickFailedError):
        poisoned.tick(at(1, 0))
    for minutes in range(1, 200, 7):  # later ticks, past the slot's starting deadline
        poisoned.tick(at(1, 0) + timedelta(minutes=minutes))
    run = poisoned.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SUBMIT_FAILED
    assert "not retried after its deadline" in (run.reason or "")
    assert [r.job for r in poisoned.alerts].count("nightly") == 1
    assert not [r for r in poisoned.store.runs_for_job("nightly", 100) if r.status == Status.MISSED]
    assert poisoned.store.outbox(until=at(5, 0)) == []


def test_alerts_the_slots_raise_are_sent_after_every_slot_in_the_same_tick(
    poisoned: World,
) -> None:
    poisoned.submitter.on_alert = None  # as wired for the dispatcher: no inline delivery
    seen: list[tuple[str, list[str]]] = []

    def deliver(run: Run, job: Any) -> bool:
        seen.append((run.run_id, poisoned.names()))
        return False

    poisoned.dispatcher.deliver_alert = deliver
    poisoned.tick(at(0, 55))
    with pytest.raises(TickFailedError):
        poisoned.tick(at(1, 0))
    assert seen == [("nightly-20261102T010000", ["ten-20261102T010000"])]
    assert poisoned.names() == ["ten-20261102T010000"]  # not re-driven in its own tick


def test_exception_in_one_jobs_submit_becomes_its_submit_failed(world: World) -> None:
    real = world.batch.submit

    def submit(spec: Any) -> str:
        if spec.name.startswith("nightly"):
            raise RuntimeError("AccessDenied: not allowed to SubmitJob")
        return real(spec)

    world.batch.submit = submit  # type: ignore[method-assign]
    world.tick(at(0, 55))
    with pytest.raises(TickFailedError, match="AccessDenied"):
        world.tick(at(1, 0))
    run = world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SUBMIT_FAILED
    assert "AccessDenied" in (run.reason or "")
    assert world.names() == ["ten-20261102T010000"]
    assert world.store.watermark() == at(1, 0)
    world.batch.submit = real  # type: ignore[method-assign]
    world.tick(at(1, 1))  # retried by the next tick, once
    assert world.names().count("nightly-20261102T010000") == 1


def test_a_failure_that_cannot_be_recorded_keeps_the_watermark(world: World) -> None:
    real = world.store.claim_run

    def claim(run: Run, **kwargs: Any) -> bool:
        if run.job == "nightly":
            raise RuntimeError("ProvisionedThroughputExceeded")
        return real(run, **kwargs)

    world.store.claim_run = claim  # type: ignore[method-assign]
    world.tick(at(0, 55))
    with pytest.raises(TickFailedError):
        world.tick(at(1, 0))
    assert world.names() == ["ten-20261102T010000"]
    assert world.store.watermark() == at(0, 55)  # the next tick sees the 01:00 slot again
    world.store.claim_run = real  # type: ignore[method-assign]
    world.tick(at(1, 1))
    assert "nightly-20261102T010000" in world.names()


def test_outbox_item_that_raises_leaves_the_others_alone(world: World) -> None:
    world.tick(at(0, 55))
    for name in ("a", "b", "c"):
        _pending_alert(world, f"run-{name}", at(0, 50))
    delivered: list[str] = []

    def deliver(run: Run, job: Any) -> bool:
        if run.run_id == "run-b":
            raise RuntimeError("boom")
        delivered.append(run.run_id)
        return True

    world.dispatcher.deliver_alert = deliver
    with pytest.raises(TickFailedError, match="1 outbox item"):
        world.tick(at(0, 56))
    assert delivered == ["run-a", "run-c"]


def test_due_slots_are_submitted_before_the_outbox_is_worked(world: World) -> None:
    world.tick(at(0, 55))
    _pending_alert(world, "run-a", at(0, 50))
    seen: list[list[str]] = []
    world.dispatcher.deliver_alert = lambda run, job: bool(seen.append(world.names()))
    world.tick(at(1, 0))
    assert seen == [["nightly-20261102T010000", "ten-20261102T010000"]]


def test_outbox_stops_on_its_budget_and_resumes_next_tick(world: World) -> None:
    world.tick(at(0, 55))
    for i in range(10):
        _pending_alert(world, f"run-{i}", at(0, 50))
    left = [60.0]

    def deliver(run: Run, job: Any) -> bool:
        left[0] -= 9.0  # each delivery takes 9 s of the invocation
        world.store.finish_alert(
            run.job, run.run_id, Alert(kind="failed", state="sent"), keep_in_outbox=False
        )
        return True

    world.dispatcher.deliver_alert = deliver
    world.clock.now = at(0, 56)
    result = world.dispatcher.tick(at(0, 56), time_left=lambda: left[0])
    assert result.alerts_sent == 5  # 60 s left: stops once fewer than 20 s are left
    assert result.outbox_deferred == 5
    left[0] = 60.0
    world.clock.now = at(0, 57)
    result = world.dispatcher.tick(at(0, 57), time_left=lambda: left[0])
    assert result.alerts_sent == 5 and result.outbox_deferred == 0


def test_crashed_claim_is_redriven_behind_200_refused_alerts(world: World) -> None:
    world.tick(at(0, 55))
    for i in range(200):
        _pending_alert(world, f"refused-{i:03d}", at(0, 40))
    claim = Run(
        job="ten",
        run_id="ten-20261102T005000",
        trigger="schedule",
        status=Status.CLAIMED,
        created_at=iso(at(0, 50)) or "",
        claimed_at=iso(at(0, 50)),
        slot=iso(at(0, 50)),
        deadline=iso(at(0, 55)),
    )
    world.store.claim_run(claim, outbox_at=at(0, 50) + REDRIVE_AFTER)
    world.dispatcher.deliver_alert = lambda run, job: False
    world.tick(at(0, 54))
    assert "ten-20261102T005000" in world.names()


def test_tick_from_the_future_is_refused(world: World) -> None:
    world.tick(at(0, 55))
    with pytest.raises(FutureTickError, match="ahead of the clock"):
        world.dispatcher.tick(at(0, 55) + timedelta(days=365))
    with pytest.raises(FutureTickError, match="replay_from"):
        world.dispatcher.tick(at(0, 55), replay_from=at(0, 55) + timedelta(hours=1))
    assert world.store.watermark() == at(0, 55)
    assert world.names() == []
    world.tick(at(1, 0))  # real ticks go on
    assert "nightly-20261102T010000" in world.names()


def test_tick_a_little_ahead_never_moves_the_watermark_past_the_clock(world: World) -> None:
    world.tick(at(0, 55))
    world.clock.now = at(0, 58)
    world.dispatcher.tick(at(1, 0))  # 2 minutes ahead: tolerated clock skew
    assert world.store.watermark() == at(0, 58)


def test_watermark_ahead_of_the_clock_is_set_back(world: World) -> None:
    world.tick(at(0, 55))
    world.store.advance_watermark(at(0, 55) + timedelta(days=30))
    world.tick(at(1, 0))
    assert "nightly-20261102T010000" in world.names()
    assert world.store.watermark() == at(1, 0)


def test_paused_job_with_a_failed_submit_is_not_retried(world: World) -> None:
    real = world.batch.submit

    def submit(spec: Any) -> str:
        raise RuntimeError("AccessDenied")

    world.batch.submit = submit  # type: ignore[method-assign]
    world.tick(at(0, 55))
    with pytest.raises(TickFailedError):
        world.tick(at(1, 0))
    world.batch.submit = real  # type: ignore[method-assign]
    world.store.update_job_state("nightly", {"paused": True})
    world.tick(at(1, 1))
    assert "nightly-20261102T010000" not in world.names()
    run = world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SKIPPED and run.reason == "job paused"
    assert "ten-20261102T010000" in world.names()  # ten's retry was not paused


def test_paused_job_queued_run_is_not_started(world: World) -> None:
    world.tick(at(0, 55))
    job = world.catalogue.get("nightly")
    queued = Run(
        job="nightly",
        run_id="nightly-manual",
        trigger="manual",
        status=Status.QUEUED,
        created_at=iso(at(0, 55)) or "",
    )
    world.store.claim_run(queued)
    world.store.update_job_state("nightly", {"paused": True, "pending_run_id": "nightly-manual"})
    outcome = world.submitter.start(job, queued)
    assert outcome.action == "skipped" and outcome.reason == "job paused"
    assert world.names() == []


def test_definition_wildcard_allows_every_revision_and_the_bare_name() -> None:
    arn = "arn:aws:batch:eu-west-2:123456789012:job-definition"
    allowed = frozenset({f"{arn}/other:*", f"{arn}/pinned:2"})
    assert definition_allowed(f"{arn}/other:7", allowed)
    assert definition_allowed(f"{arn}/other", allowed)
    assert definition_allowed(f"{arn}/pinned:2", allowed)
    assert not definition_allowed(f"{arn}/pinned:3", allowed)
    assert not definition_allowed(f"{arn}/other-two:1", allowed)
    assert not definition_allowed(f"{arn.replace('123456789012', '999')}/other:1", allowed)


def _pending_alert(world: World, run_id: str, when: Any) -> None:
    run = Run(
        job="nightly",
        run_id=run_id,
        trigger="manual",
        status=Status.FAILED,
        created_at=iso(when) or "",
        alert=Alert(kind="failed", created_at=iso(when)),
    )
    world.store.claim_run(run)
    world.store.update_run("nightly", run_id, {}, outbox_at=when, queue=ALERTS)
