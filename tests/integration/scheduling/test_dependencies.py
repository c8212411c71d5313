"""`after:` jobs under moto, through the job-state handler: a downstream job starts once per
complete cycle of its upstream jobs, whatever the order, duplication or concurrency of events."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchcron.handlers.dispatch import handler as dispatch_handler
from batchcron.handlers.job_state import handler
from batchcron.models import Run, Status, iso
from batchcron.store.runs import RunStore
from tests.batch_events import batch_event, from_batch
from tests.integration.outcomes.test_job_state import FakeSlack

CATALOGUE = """
jobs:
  lad-collection:
    repository: acme/lad-collection
  conservation-area:
    repository: acme/conservation-area-collection
  entity-builder:
    repository: acme/entity-builder
    script: builder
    after:
      jobs: [lad-collection, conservation-area]
  tiles-builder:
    repository: acme/tiles-builder
    script: builder
    after: {jobs: [entity-builder]}
  report:
    repository: acme/report
    after: {jobs: [conservation-area], when: finished}
"""

_ids = iter(range(10**6))


@pytest.fixture
def jobs_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(CATALOGUE, encoding="utf-8")
    monkeypatch.setenv("JOBS_FILE", str(path))
    return path


@pytest.fixture
def slack(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    fake = FakeSlack()
    boto3.client("secretsmanager").put_secret_value(
        SecretId=aws_env.slack_secret_arn, SecretString=fake.url()
    )
    monkeypatch.setattr("batchcron.adapters.slack.DEFAULT_BACKOFF", 0)
    yield fake
    fake.close()


@pytest.fixture
def store(aws_env: Any, jobs_file: Path, slack: FakeSlack) -> RunStore:
    from batchcron.settings import settings

    return RunStore(settings().runs_table)


def finished(
    job: str,
    status: str = "SUCCEEDED",
    *,
    ago: timedelta = timedelta(hours=2),
    run_id: str | None = None,
    trigger: str = "schedule",
) -> dict[str, Any]:
    """The terminal event of one run of `job` (batchcron's own, unless run_id is foreign)."""
    number = next(_ids)
    run_id = run_id or f"{job}-run{number:04d}"
    event = batch_event(
        status,
        1,
        job=job,
        run_id=run_id,
        job_id=f"{number:08d}-0000-4000-8000-000000000000",
        max_attempts=1,
        exit_code=0 if status == "SUCCEEDED" else 2,
        repository=None,
        start=datetime.now(UTC) - ago,
    )
    event["detail"]["tags"]["batchcron:trigger"] = trigger
    return event


def record(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from batchcron.wiring import store

    return handler(from_batch(event, store()), context)


def upstream_runs(store: RunStore, job: str) -> list[Run]:
    return [run for run in store.runs_for_job(job, limit=50) if run.trigger == "upstream"]


def environment(run: Run) -> dict[str, str]:
    described = boto3.client("batch").describe_jobs(jobs=[run.batch_job_id])["jobs"][0]
    return {item["name"]: item["value"] for item in described["container"]["environment"]}


def tick(context: Any, at: datetime | None = None) -> dict[str, Any]:
    return dispatch_handler({"scheduled_time": iso(at or datetime.now(UTC))}, context)


# --- the rule through the handler ----------------------------------------------------------------


def test_downstream_starts_when_the_last_upstream_succeeds(
    store: RunStore, lambda_context: Any
) -> None:
    # Given one of two upstream jobs succeeded: the builder waits
    lad = finished("lad-collection")
    assert "started_downstream" not in record(lad, lambda_context)
    assert upstream_runs(store, "entity-builder") == []

    # When the second succeeds
    area = finished("conservation-area", ago=timedelta(minutes=90))
    result = record(area, lambda_context)

    # Then the builder is submitted once, naming the runs that completed its cycle
    (run,) = upstream_runs(store, "entity-builder")
    assert result["started_downstream"][0] == run.run_id
    lad_id = lad["detail"]["tags"]["batchcron:run-id"]
    area_id = area["detail"]["tags"]["batchcron:run-id"]
    assert run.status == Status.SUBMITTED
    assert run.upstream_runs == [lad_id, area_id]
    assert environment(run)["BATCHCRON_UPSTREAM_RUNS"] == f"{lad_id},{area_id}"
    tags = boto3.client("batch").describe_jobs(jobs=[run.batch_job_id])["jobs"][0]["tags"]
    assert tags["batchcron:trigger"] == "upstream"
    # ...and `when: finished` started the report after conservation-area too
    assert len(upstream_runs(store, "report")) == 1

    # And a second run of one upstream alone does not start it again
    record(finished("lad-collection", ago=timedelta(minutes=1)), lambda_context)
    assert len(upstream_runs(store, "entity-builder")) == 1


def test_duplicate_and_shuffled_events_start_one_run(store: RunStore, lambda_context: Any) -> None:
    events = []
    for job in ("lad-collection", "conservation-area"):
        final = finished(job)
        running = batch_event(
            "RUNNING",
            0,
            job=job,
            run_id=final["detail"]["tags"]["batchcron:run-id"],
            job_id=final["detail"]["jobId"],
            max_attempts=1,
            repository=None,
        )
        events += [final, final, running]
    rng = random.Random(12)
    for _ in range(3):
        rng.shuffle(events)
        for event in events:
            record(event, lambda_context)
    assert len(upstream_runs(store, "entity-builder")) == 1


def test_concurrent_completions_start_one_run(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.scheduling import cycles
    from batchcron.wiring import recorder

    # Both invocations count their outcome, then both see a complete cycle at the same time.
    barrier = threading.Barrier(2, timeout=30)
    original = cycles.Cycles.after_outcome

    def together(self: cycles.Cycles, upstream: str) -> Any:
        barrier.wait()
        return original(self, upstream)

    monkeypatch.setattr(cycles.Cycles, "after_outcome", together)
    events = [
        finished("lad-collection"),
        finished("conservation-area"),
    ]
    errors: list[BaseException] = []

    def deliver(event: dict[str, Any]) -> None:
        try:
            recorder().record_event(from_batch(event, recorder().store))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(upstream_runs(store, "entity-builder")) == 1


def test_failed_upstream_waits_alerts_blocks_and_a_rerun_completes_the_cycle(
    store: RunStore, slack: FakeSlack, lambda_context: Any
) -> None:
    record(finished("lad-collection"), lambda_context)

    # A failed upstream: the builder waits, `when: finished` does not
    record(finished("conservation-area", "FAILED", ago=timedelta(minutes=100)), lambda_context)
    assert upstream_runs(store, "entity-builder") == []
    assert len(upstream_runs(store, "report")) == 1
    # ...and the upstream's own alert names the job it blocks; nothing alerts for the builder
    assert slack.headlines() == [":x: conservation-area failed"]
    assert "blocks: entity-builder" in str(slack.accepted[0][1])

    # A re-run by hand succeeds: the cycle completes with the re-run
    rerun = finished("conservation-area", ago=timedelta(minutes=40), trigger="manual")
    record(rerun, lambda_context)
    (run,) = upstream_runs(store, "entity-builder")
    assert run.upstream_runs[1] == rerun["detail"]["tags"]["batchcron:run-id"]


def test_a_foreign_run_counts(store: RunStore, lambda_context: Any) -> None:
    record(finished("lad-collection"), lambda_context)
    by_hand = batch_event(
        "SUCCEEDED",
        1,
        job=None,
        job_name="conservation-area-by-hand",
        job_id="abcdef12-0000-4000-8000-000000000000",
        max_attempts=1,
        exit_code=0,
        repository="conservation-area-collection",
        start=datetime.now(UTC) - timedelta(hours=1),
    )
    record(by_hand, lambda_context)
    (run,) = upstream_runs(store, "entity-builder")
    assert run.upstream_runs[1] == "conservation-area-by-hand-abcdef12"


def test_three_job_chain_runs_in_order(store: RunStore, lambda_context: Any) -> None:
    record(finished("lad-collection"), lambda_context)
    record(finished("conservation-area"), lambda_context)
    (entity,) = upstream_runs(store, "entity-builder")
    assert upstream_runs(store, "tiles-builder") == []

    # When the entity builder's own run succeeds, the tiles builder starts after it
    done = batch_event(
        "SUCCEEDED",
        1,
        job="entity-builder",
        run_id=entity.run_id,
        job_id=entity.batch_job_id or "",
        max_attempts=1,
        exit_code=0,
        repository=None,
        start=datetime.now(UTC) - timedelta(minutes=20),
    )
    done["detail"]["tags"]["batchcron:trigger"] = "upstream"
    record(done, lambda_context)
    (tiles,) = upstream_runs(store, "tiles-builder")
    assert tiles.upstream_runs == [entity.run_id]
    assert store.get_run("entity-builder", entity.run_id).status == Status.SUCCEEDED  # type: ignore[union-attr]


def test_paused_downstream_starts_one_run_after_resume(
    store: RunStore, lambda_context: Any
) -> None:
    store.update_job_state("entity-builder", {"paused": True})
    record(finished("lad-collection"), lambda_context)
    record(finished("conservation-area"), lambda_context)
    tick(lambda_context)
    assert upstream_runs(store, "entity-builder") == []

    store.update_job_state("entity-builder", {"paused": False})
    tick(lambda_context)
    tick(lambda_context)
    assert len(upstream_runs(store, "entity-builder")) == 1


def test_a_lost_trigger_is_recovered_by_the_tick(
    store: RunStore, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.scheduling import cycles

    def lost(self: cycles.Cycles, upstream: str) -> Any:
        raise RuntimeError("the invocation died before starting the downstream job")

    # The outcomes are recorded (and the event handled) but the trigger never happens
    with monkeypatch.context() as patch:
        patch.setattr(cycles.Cycles, "after_outcome", lost)
        record(finished("lad-collection"), lambda_context)
        assert record(finished("conservation-area"), lambda_context)["status"] == "SUCCEEDED"
    assert upstream_runs(store, "entity-builder") == []

    # The next tick starts it, once
    summary = tick(lambda_context)
    assert summary.get("submitted", 0) >= 1
    tick(lambda_context)
    assert len(upstream_runs(store, "entity-builder")) == 1


def test_a_claimed_cycle_whose_run_was_never_submitted_is_finished_by_the_tick(
    store: RunStore, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.scheduling.submit import Submitter

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("crashed between claiming the cycle and the run")

    # The invocation dies: nothing of the start is recorded (not even its failure)
    with monkeypatch.context() as patch:
        patch.setattr(Submitter, "trigger", crash)
        patch.setattr(Submitter, "fail", crash)
        record(finished("lad-collection"), lambda_context)
        record(finished("conservation-area"), lambda_context)
    state = store.job_state("entity-builder")
    assert state.upstream_start is not None
    assert upstream_runs(store, "entity-builder") == []

    tick(lambda_context)
    (run,) = upstream_runs(store, "entity-builder")
    assert run.run_id == state.upstream_start
    assert len(run.upstream_runs) == 2
    assert store.job_state("entity-builder").upstream_start is None


def test_concurrency_forbid_applies_to_upstream_runs(
    store: RunStore, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(finished("lad-collection", ago=timedelta(hours=3)), lambda_context)
    record(finished("conservation-area", ago=timedelta(hours=3)), lambda_context)
    (first,) = upstream_runs(store, "entity-builder")
    # The builder is still running (moto's Batch finishes jobs at once) when the next cycle
    # completes
    monkeypatch.setattr(
        "batchcron.adapters.batch.Batch.describe",
        lambda self, ids: {job_id: {"status": "RUNNING"} for job_id in ids},
    )
    record(finished("lad-collection", ago=timedelta(minutes=-5)), lambda_context)
    record(finished("conservation-area", ago=timedelta(minutes=-5)), lambda_context)
    runs = upstream_runs(store, "entity-builder")
    assert len(runs) == 2
    second = next(run for run in runs if run.run_id != first.run_id)
    assert second.status == Status.SKIPPED
    assert first.run_id in (second.reason or "")


def test_a_tick_without_after_jobs_reads_nothing_for_them(
    aws_env: Any, lambda_context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.scheduling import cycles

    path = tmp_path / "jobs.yaml"
    path.write_text("jobs:\n  solo:\n    repository: acme/solo\n", encoding="utf-8")
    monkeypatch.setenv("JOBS_FILE", str(path))
    checked: list[Any] = []
    monkeypatch.setattr(cycles.Cycles, "check", lambda self, jobs: checked.append(jobs) or [])
    tick(lambda_context)
    assert checked == []


# --- clock skew between Batch and the function ------------------------------------------------

SKEWS = [
    timedelta(minutes=-5),
    timedelta(seconds=-2),
    timedelta(seconds=2),
    timedelta(minutes=5),
]


def stopped(
    job: str,
    at: datetime,
    *,
    run_id: str | None = None,
    job_id: str | None = None,
    trigger: str = "schedule",
) -> dict[str, Any]:
    """The SUCCEEDED event of a run of `job` whose attempt Batch says stopped `at`."""
    event = finished(job, run_id=run_id, trigger=trigger, ago=timedelta(0))
    if job_id is not None:
        event["detail"]["jobId"] = job_id
        event["detail"]["jobArn"] = event["detail"]["jobArn"].rsplit("/", 1)[0] + f"/{job_id}"
    stamp = int(at.timestamp() * 1000)
    event["detail"]["stoppedAt"] = event["detail"]["attempts"][-1]["stoppedAt"] = stamp
    event["detail"]["startedAt"] = event["detail"]["attempts"][-1]["startedAt"] = stamp - 60_000
    event["detail"]["createdAt"] = stamp - 120_000
    return event


@pytest.mark.parametrize("skew", SKEWS, ids=lambda skew: f"{skew.total_seconds():+g}s")
def test_each_upstream_run_counts_for_one_cycle_whatever_the_clock_skew(
    store: RunStore, lambda_context: Any, skew: timedelta
) -> None:
    from batchcron.models import set_clock, utcnow

    # Given Batch's clock `skew` off the function's, and cycles whose upstream runs finish
    # one second, then ten minutes, then a day after the previous cycle's build started
    set_clock(datetime(2027, 3, 1, 2, 0, tzinfo=UTC))
    gaps = [timedelta(0), timedelta(seconds=1), timedelta(minutes=10), timedelta(days=1)]
    consumed: list[str] = []
    for number, gap in enumerate(gaps, start=1):
        set_clock(utcnow() + gap)
        events = [stopped(job, utcnow() + skew) for job in ("lad-collection", "conservation-area")]
        ids = [event["detail"]["tags"]["batchcron:run-id"] for event in events]

        # When both upstream runs' outcomes arrive, twice each, and the dispatcher ticks
        for event in events + events:
            record(event, lambda_context)
        tick(lambda_context, utcnow())

        # Then the builder started once for this cycle, from this cycle's runs
        builds = sorted(upstream_runs(store, "entity-builder"), key=lambda run: run.created_at)
        assert len(builds) == number, [run.upstream_runs for run in builds]
        assert builds[-1].upstream_runs == ids
        assert not set(ids) & set(consumed)
        consumed += ids
        # ...and its own run ends (Batch's clock again) before the next cycle's runs
        build = builds[-1]
        assert build.status == Status.SUBMITTED
        record(
            stopped(
                "entity-builder",
                utcnow() + skew,
                run_id=build.run_id,
                job_id=build.batch_job_id,
                trigger="upstream",
            ),
            lambda_context,
        )
        # tiles-builder, after entity-builder, started once per build too
        assert len(upstream_runs(store, "tiles-builder")) == number
