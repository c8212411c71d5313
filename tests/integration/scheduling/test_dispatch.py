"""The dispatcher under moto: exactly once per slot, catch-up, overlap policies, crashes,
throttling."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchcron.adapters.batch import Batch
from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import Catalogue
from batchcron.models import Run, Status
from batchcron.scheduling.dispatch import Dispatcher, TickFailedError
from batchcron.scheduling.submit import REDRIVE_AFTER, Request, Submitter, run_name
from batchcron.settings import settings
from batchcron.store.runs import RunStore
from tests.conftest import load_event
from tests.faults import Storm, storm_on

CATALOGUE = """
jobs:
  nightly:
    repository: acme/nightly-collection
    schedule: "0 1 * * *"
    environment: {ENVIRONMENT: production}
    attempts: 3
    timeout_minutes: 90
    vcpus: 2
    memory_mib: 4096
  ten:
    repository: acme/ten
    script: builder
    schedule: "*/10 * * * *"
    starting_deadline_minutes: 5
  london:
    repository: acme/london
    schedule: "30 1 * * *"
    timezone: Europe/London
  pushed:
    repository: acme/pushed
    script: builder
    on_push: {}
"""

T0 = datetime(2026, 11, 2, 0, 55, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class World:
    """A dispatcher wired to moto, with a controllable clock."""

    def __init__(self, catalogue: Catalogue, clock: Clock, batch_client: Any = None) -> None:
        self.catalogue = catalogue
        self.clock = clock
        self.store = RunStore(settings().runs_table)
        self.slept: list[float] = []
        self.batch = Batch(batch_client, sleep=self.slept.append, seed=1)
        self.alerts: list[Run] = []
        self.submitter = Submitter(
            self.store, self.batch, settings(), on_alert=self.alerts.append, clock=clock
        )
        self.dispatcher = Dispatcher(
            catalogue,
            self.store,
            self.submitter,
            deliver_alert=lambda run, job: False,
            workers=4,
            clock=clock,
        )

    def tick(self, at: datetime, **kwargs: Any) -> Any:
        self.clock.now = at
        return self.dispatcher.tick(at, **kwargs)

    def batch_jobs(self) -> list[dict[str, Any]]:
        client = self.batch.client
        summaries = client.list_jobs(
            jobQueue=settings().job_queue, filters=[{"name": "AFTER_CREATED_AT", "values": ["0"]}]
        )["jobSummaryList"]
        return summaries

    def names(self) -> list[str]:
        return sorted(job["jobName"] for job in self.batch_jobs())

    def run(self, job: str, slot: datetime) -> Run | None:
        return self.store.get_run(job, run_name(job, slot, precise=False))


@pytest.fixture
def world(aws_env: Any) -> World:
    return World(parse_catalogue(CATALOGUE), Clock(T0))


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_sample_tick_event_runs_through_the_handler(aws_env: Any, lambda_context: Any) -> None:
    from batchcron.handlers.dispatch import handler

    event = load_event("dispatch_tick.json")
    first = handler(event, lambda_context)  # the first tick ever only sets the watermark
    assert first["window_start"] is None
    later = dict(event, scheduled_time="2026-11-28T01:00:30Z", replay_from="2026-11-28T00:59:00Z")
    result = handler(later, lambda_context)
    assert result["submitted"] == 1  # conservation-area at 01:00
    runs = RunStore(settings().runs_table).runs_for_job("conservation-area")
    assert [r.run_id for r in runs] == ["conservation-area-20261128T010000"]


@pytest.mark.parametrize(
    "event",
    [
        {"scheduled_time": "yesterday"},
        {"scheduled_time": 12},
        {"scheduled_time": "2026-11-28T04:00:00Z", "replay_from": "2026-11-29T00:00:00Z"},
        ["not", "an", "object"],
    ],
)
def test_malformed_tick_is_a_clear_error_and_submits_nothing(
    aws_env: Any, lambda_context: Any, event: Any
) -> None:
    from batchcron.handlers.dispatch import BadTickError, handler

    with pytest.raises(BadTickError):
        handler(event, lambda_context)
    assert RunStore(settings().runs_table).recent_runs() == []


def test_first_tick_starts_from_now(world: World) -> None:
    result = world.tick(at(1, 0))
    assert result.outcomes == [] and world.names() == []


def test_due_job_is_submitted_with_the_full_request(world: World) -> None:
    world.tick(at(0, 55))
    result = world.tick(at(1, 0, day=2) + timedelta(seconds=20))
    assert sorted(o.job for o in result.outcomes if o.action == "submitted") == ["nightly", "ten"]
    run = world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SUBMITTED and run.trigger == "schedule"
    job = world.batch.describe([run.batch_job_id or ""])[run.batch_job_id or ""]
    assert job["jobName"] == "nightly-20261102T010000"
    env = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert env["REPOSITORY"] == "nightly-collection"
    assert env["GITHUB_ORG"] == "acme"
    assert env["BATCH_FILE_URL"] == "pipeline_run.sh"
    assert env["BATCHCRON_JOB"] == "nightly"
    assert env["BATCHCRON_RUN_ID"] == "nightly-20261102T010000"
    assert env["ENVIRONMENT"] == "production"
    assert "GIT_REF" not in env
    assert job["tags"] == {
        "batchcron:job": "nightly",
        "batchcron:trigger": "schedule",
        "batchcron:run-id": "nightly-20261102T010000",
        "batchcron:stack": "batchcron-local",
    }
    assert job["timeout"] == {"attemptDurationSeconds": 90 * 60}


def test_submit_request_shape(world: World) -> None:
    job = world.catalogue.get("nightly")
    run = Run(
        job="nightly", run_id="nightly-x", trigger="manual", status=Status.CLAIMED, created_at=""
    )
    request = world.submitter.spec(job, run).request()
    assert request["retryStrategy"]["attempts"] == 3
    rules = request["retryStrategy"]["evaluateOnExit"]
    assert len(rules) <= 5 and rules[-1] == {"onReason": "*", "action": "EXIT"}
    assert {r["onStatusReason"] for r in rules[:-1]} == {
        "CannotPullContainerError*",
        "ResourceInitializationError*",
        "Task failed to start",
    }
    assert request["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "2"},
        {"type": "MEMORY", "value": "4096"},
    ]
    assert request["propagateTags"] is True


def test_duplicate_tick_submits_nothing_twice(world: World) -> None:
    world.tick(at(0, 55))
    world.tick(at(1, 0))
    again = world.dispatcher.tick(at(1, 0), replay_from=at(0, 55))
    assert {o.action for o in again.outcomes} == {"duplicate"}
    assert world.names() == ["nightly-20261102T010000", "ten-20261102T010000"]


def test_racing_ticks_submit_each_slot_once(world: World) -> None:
    world.tick(at(0, 55))
    world.clock.now = at(1, 0)
    rivals = [World(world.catalogue, world.clock) for _ in range(4)]
    barrier = threading.Barrier(len(rivals))
    errors: list[BaseException] = []

    def go(w: World) -> None:
        barrier.wait()
        try:
            w.dispatcher.tick(at(1, 0))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(w,)) for w in rivals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert world.names() == ["nightly-20261102T010000", "ten-20261102T010000"]


def test_outage_runs_only_the_latest_slot_and_records_the_rest_missed(world: World) -> None:
    world.tick(at(0, 55))
    # 30-minute outage: the next tick comes at 01:24
    result = world.tick(at(1, 24))
    submitted = sorted(o.run_id for o in result.outcomes if o.action == "submitted")
    # `ten` had 01:00, 01:10, 01:20: only 01:20 runs (within its 5 min deadline);
    # `nightly` 01:00 is 26 minutes late but within its 60 min deadline.
    assert submitted == ["nightly-20261102T010000", "ten-20261102T012000"]
    for minute in (0, 10):
        missed = world.run("ten", at(1, minute))
        assert missed is not None and missed.status == Status.MISSED
    assert len([r for r in world.alerts if r.status == Status.MISSED]) == 1  # one per job per tick


def test_slot_past_its_deadline_is_missed_not_run(world: World) -> None:
    world.tick(at(1, 1))
    result = world.tick(at(1, 17))  # `ten` 01:10 is 7 minutes old, deadline 5
    assert [o.action for o in result.outcomes] == []
    run = world.run("ten", at(1, 10))
    assert run is not None and run.status == Status.MISSED
    assert "deadline" in (run.reason or "")


def test_replay_runs_every_slot_once(world: World) -> None:
    world.tick(at(3, 0))
    result = world.tick(at(3, 0), replay_from=at(1, 59))
    # moto finishes jobs at once, so no slot finds its predecessor still active
    assert {o.run_id for o in result.outcomes if o.action == "submitted"} == {
        f"ten-20261102T0{h}"
        for h in ("20000", "21000", "22000", "23000", "24000", "25000", "30000")
    }
    again = world.tick(at(3, 0), replay_from=at(1, 59))
    assert {o.action for o in again.outcomes} == {"duplicate"}


def test_replay_for_one_job(world: World) -> None:
    world.tick(at(3, 0))
    result = world.tick(at(3, 0), replay_from=at(0, 0), only_job="nightly")
    assert [o.run_id for o in result.outcomes] == ["nightly-20261102T010000"]


def test_dst_time_zone_job_runs_once_on_fall_back_day(aws_env: Any) -> None:
    world = World(parse_catalogue(CATALOGUE), Clock(at(0, 0, day=24)))
    world.tick(datetime(2026, 10, 24, 12, tzinfo=UTC))
    result = world.tick(
        datetime(2026, 10, 26, 12, tzinfo=UTC),
        replay_from=datetime(2026, 10, 24, 12, tzinfo=UTC),
        only_job="london",
    )
    # London falls back on 2026-10-25: 01:30 BST (00:30 UTC) then 01:30 GMT would repeat
    assert [o.run_id for o in result.outcomes] == [
        "london-20261025T003000",
        "london-20261026T013000",
    ]


# --- crashes --------------------------------------------------------------------------


def _claim_without_submitting(world: World, slot: datetime) -> Run:
    job = world.catalogue.get("nightly")
    run = Run(
        job="nightly",
        run_id=run_name("nightly", slot, precise=False),
        trigger="schedule",
        status=Status.CLAIMED,
        created_at=slot.isoformat(),
        slot=slot.isoformat(),
        claimed_at=world.clock.now.isoformat().replace("+00:00", "Z"),
        deadline=(slot + timedelta(minutes=job.starting_deadline_minutes)).isoformat(),
    )
    assert world.store.claim_run(run, outbox_at=world.clock.now + REDRIVE_AFTER)
    return run


def test_crash_before_submit_is_redriven_once(world: World) -> None:
    world.tick(at(0, 55))
    world.clock.now = at(1, 0)
    _claim_without_submitting(world, at(1, 0))  # the crashed invocation's claim
    world.tick(at(1, 1))  # the slot is claimed: this tick does not submit it again
    assert "nightly-20261102T010000" not in world.names()
    world.tick(at(1, 1) + REDRIVE_AFTER + timedelta(minutes=1))
    assert world.names().count("nightly-20261102T010000") == 1
    run = world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SUBMITTED
    world.tick(at(1, 30))
    assert world.names().count("nightly-20261102T010000") == 1


def test_crash_after_submit_adopts_the_batch_job(world: World) -> None:
    world.tick(at(0, 55))
    world.clock.now = at(1, 0)
    run = _claim_without_submitting(world, at(1, 0))
    job = world.catalogue.get("nightly")
    batch_id = world.batch.submit(world.submitter.spec(job, run))  # then the Lambda died
    world.tick(at(1, 0) + REDRIVE_AFTER + timedelta(minutes=1))
    assert world.names().count("nightly-20261102T010000") == 1
    recorded = world.run("nightly", at(1, 0))
    assert recorded is not None and recorded.batch_job_id == batch_id


def test_claim_past_its_deadline_is_missed(world: World) -> None:
    world.tick(at(0, 55))
    world.clock.now = at(1, 0)
    _claim_without_submitting(world, at(1, 0))
    world.tick(at(2, 30))
    run = world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.MISSED
    assert "nightly-20261102T010000" not in world.names()


# --- overlap -----------------------------------------------------------------------------


def _make_active(world: World, job_name: str, *, status: str) -> str:
    """Pretend a run of the job is active, with a Batch job in `status` (moto finishes jobs
    at once, so RUNNING is simulated by answering DescribeJobs)."""
    job = world.catalogue.get(job_name)
    request = Request(job=job, trigger="manual", run_id=f"{job_name}-active")
    outcome = world.submitter.trigger(request)
    assert outcome.action == "submitted"
    world.batch_status[outcome.batch_job_id or ""] = status  # type: ignore[attr-defined]
    return outcome.batch_job_id or ""


@pytest.fixture
def overlap_world(aws_env: Any) -> World:
    world = World(parse_catalogue(CATALOGUE), Clock(at(0, 55)))
    statuses: dict[str, str] = {}
    real_describe = world.batch.describe

    def describe(ids: Any) -> dict[str, dict[str, Any]]:
        found = real_describe(ids)
        for job_id, job in found.items():
            if job_id in statuses:
                job["status"] = statuses[job_id]
        return found

    world.batch.describe = describe  # type: ignore[method-assign]
    world.batch_status = statuses  # type: ignore[attr-defined]
    world.tick(at(0, 55))
    return world


def _with_policy(world: World, policy: str) -> None:
    text = CATALOGUE.replace(
        'schedule: "0 1 * * *"', f'schedule: "0 1 * * *"\n    concurrency: {policy}'
    )
    world.catalogue = parse_catalogue(text)
    world.dispatcher.catalogue = world.catalogue


def test_forbid_skips_while_the_previous_run_is_active(overlap_world: World) -> None:
    _make_active(overlap_world, "nightly", status="RUNNING")
    result = overlap_world.tick(at(1, 0))
    [outcome] = [o for o in result.outcomes if o.job == "nightly"]
    assert outcome.action == "skipped" and "nightly-active" in (outcome.reason or "")
    run = overlap_world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SKIPPED


def test_three_skips_in_a_row_alert_once(overlap_world: World) -> None:
    _make_active(overlap_world, "nightly", status="RUNNING")
    for day in (2, 3, 4, 5):
        overlap_world.tick(at(1, 0, day=day))
        overlap_world.tick(at(12, 0, day=day))
    skipped_alerts = [r for r in overlap_world.alerts if r.status == Status.SKIPPED]
    assert [r.run_id for r in skipped_alerts] == ["nightly-20261104T010000"]


def test_lost_state_event_does_not_block_forever(overlap_world: World) -> None:
    # The active run finished but its terminal event never arrived: Batch says SUCCEEDED.
    _make_active(overlap_world, "nightly", status="SUCCEEDED")
    result = overlap_world.tick(at(1, 0))
    [outcome] = [o for o in result.outcomes if o.job == "nightly"]
    assert outcome.action == "submitted"
    assert overlap_world.store.job_state("nightly").active_run_id == "nightly-20261102T010000"


def test_unknown_batch_job_counts_as_done(overlap_world: World) -> None:
    overlap_world.store.update_job_state(
        "nightly", {"active_run_id": "nightly-old", "active_batch_job_id": "no-such-job"}
    )
    result = overlap_world.tick(at(1, 0))
    assert [o.action for o in result.outcomes if o.job == "nightly"] == ["submitted"]


def test_allow_submits_alongside(overlap_world: World) -> None:
    _with_policy(overlap_world, "allow")
    _make_active(overlap_world, "nightly", status="RUNNING")
    result = overlap_world.tick(at(1, 0))
    assert [o.action for o in result.outcomes if o.job == "nightly"] == ["submitted"]


def test_replace_terminates_the_active_run_then_submits(overlap_world: World) -> None:
    _with_policy(overlap_world, "replace")
    active = _make_active(overlap_world, "nightly", status="RUNNING")
    terminated: list[str] = []
    real = overlap_world.batch.terminate
    overlap_world.batch.terminate = lambda job_id, reason: (
        terminated.append(job_id),
        real(job_id, reason),
    )[1]  # type: ignore[method-assign]
    result = overlap_world.tick(at(1, 0))
    assert [o.action for o in result.outcomes if o.job == "nightly"] == ["submitted"]
    assert terminated == [active]


def test_queue_keeps_one_pending_run_and_the_newest_wins(overlap_world: World) -> None:
    _with_policy(overlap_world, "queue")
    _make_active(overlap_world, "nightly", status="RUNNING")
    overlap_world.tick(at(1, 0))
    overlap_world.tick(at(1, 0, day=3))
    state = overlap_world.store.job_state("nightly")
    assert state.pending_run_id == "nightly-20261103T010000"
    first = overlap_world.run("nightly", at(1, 0))
    second = overlap_world.run("nightly", at(1, 0, day=3))
    assert first is not None and first.status == Status.SUPERSEDED
    assert second is not None and second.status == Status.QUEUED
    # when the active run ends, the pending one goes through the same submit path
    overlap_world.store.update_job_state(
        "nightly", {"active_run_id": None, "active_batch_job_id": None}
    )
    outcome = overlap_world.submitter.start(overlap_world.catalogue.get("nightly"), second)
    assert outcome.action == "submitted"
    assert overlap_world.store.job_state("nightly").pending_run_id is None


def test_paused_job_is_not_run(world: World) -> None:
    world.tick(at(0, 55))
    world.store.update_job_state("nightly", {"paused": True})
    result = world.tick(at(1, 0))
    assert [o.job for o in result.outcomes] == ["ten"]


# --- throttling and Batch outages -------------------------------------------------------


def test_throttling_storm_loses_and_duplicates_nothing(
    aws_env: Any, no_retry_sleep: list[float]
) -> None:
    client = boto3.client("batch", region_name="eu-west-2")
    world = World(parse_catalogue(_many_jobs(30)), Clock(at(0, 55)), batch_client=_patient(client))
    world.tick(at(0, 55))
    with storm_on(world.batch.client, Storm("SubmitJob", first=10, rate=0.5, seed=3)) as storm:
        result = world.tick(at(1, 0))
    assert storm.failed > 10
    assert sorted(o.action for o in result.outcomes) == ["submitted"] * 30
    names = world.names()
    assert len(names) == len(set(names)) == 30
    assert world.slept  # backed off (with jitter) between attempts


def test_batch_down_records_submit_failed_and_later_ticks_retry(
    aws_env: Any, no_retry_sleep: list[float]
) -> None:
    client = _patient(boto3.client("batch", region_name="eu-west-2"))
    world = World(parse_catalogue(CATALOGUE), Clock(at(0, 55)), batch_client=client)
    world.tick(at(0, 55))
    storm = Storm("SubmitJob", rate=1.0, error="ServerException", status=500)
    with storm_on(client, storm), pytest.raises(TickFailedError):
        world.tick(at(1, 0))
    run = world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SUBMIT_FAILED
    assert [r.status for r in world.alerts] == [Status.SUBMIT_FAILED, Status.SUBMIT_FAILED]
    world.tick(at(1, 2))  # Batch is back
    run = world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SUBMITTED
    assert world.names().count("nightly-20261102T010000") == 1


def _patient(client: Any) -> Any:
    from botocore.config import Config

    return boto3.client(
        "batch", region_name="eu-west-2", config=Config(retries={"total_max_attempts": 1})
    )


def _many_jobs(count: int) -> str:
    lines = ["jobs:"]
    for i in range(count):
        lines += [f"  job-{i:03d}:", f"    repository: acme/repo-{i}", '    schedule: "0 1 * * *"']
    return "\n".join(lines) + "\n"


def test_job_overrides_must_be_allowed(world: World, tmp_path: Path) -> None:
    text = CATALOGUE.replace(
        "    attempts: 3",
        "    attempts: 3\n    job_queue: arn:aws:batch:eu-west-2:1:job-queue/other",
    )
    world.dispatcher.catalogue = parse_catalogue(text)

    world.tick(at(0, 55))
    with pytest.raises(TickFailedError, match="ExtraJobQueueArns"):
        world.tick(at(1, 0))
    run = world.run("nightly", at(1, 0))
    assert run is not None and run.status == Status.SUBMIT_FAILED
    assert "ExtraJobQueueArns" in (run.reason or "")
    assert "ten-20261102T010000" in world.names()  # the other job's slot still went
