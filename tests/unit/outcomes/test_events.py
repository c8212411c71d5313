"""Batch job state changes: parsing, which run an event belongs to, ordering."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchcron.catalogue.loading import parse_catalogue
from batchcron.models import Run, Status
from batchcron.outcomes.events import (
    BadJobStateEventError,
    StateChange,
    apply,
    identify,
    interpret,
    order_value,
    parse_event,
    stuck_reason,
)
from tests.batch_events import STUCK, batch_event, lifecycle
from tests.conftest import load_event

CATALOGUE = parse_catalogue(
    """
jobs:
  parish:
    repository: digital-land/parish-collection
    schedule: "0 0 1 * *"
    attempts: 2
  historic-england:
    repository: digital-land/historic-england-collection
    schedule: "0 0 1 * *"
"""
)
SAMPLES = ("batch_job_running.json", "batch_job_failed.json", "batch_job_succeeded.json")


def change(event: dict[str, Any]) -> StateChange:
    return interpret(parse_event(event), CATALOGUE)


def fold(events: list[dict[str, Any]]) -> Run | None:
    run: Run | None = None
    for event in events:
        run = apply(run, change(event)) or run
    return run


# --- samples and parsing -------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_parses_to_a_parish_run(name: str) -> None:
    result = change(load_event(name))

    assert result.job == "parish"
    assert result.run_id.startswith("parish-2026")
    assert not result.identity.foreign
    assert result.region == "eu-west-2"


def test_failed_sample_records_every_attempt() -> None:
    result = change(load_event("batch_job_failed.json"))

    fields = result.fields
    assert fields["status"] == "FAILED"
    assert fields["reason"] == "Essential container in task exited"
    assert fields["exit_code"] == 2
    assert fields["max_attempts"] == 2
    assert fields["log_stream"] == "batchcron/default/7e6d5c4b3a2f4e1d9c8b7a6f5e4d3c2b"
    assert fields["duration_seconds"] == pytest.approx(2662.488)
    assert fields["started_at"] == "2026-01-01T00:03:10.918Z"
    assert fields["stopped_at"] == "2026-01-01T00:47:33.406Z"
    first, second = fields["attempts"]
    assert first["reason"].startswith("ResourceInitializationError")
    assert "exit_code" not in first
    assert second == {
        "exit_code": 2,
        "reason": "Essential container in task exited",
        "log_stream": "batchcron/default/7e6d5c4b3a2f4e1d9c8b7a6f5e4d3c2b",
        "started_at": "2026-01-01T00:03:10.918Z",
        "stopped_at": "2026-01-01T00:47:33.406Z",
    }
    assert result.order == order_value(2, Status.FAILED)


def test_unknown_fields_are_ignored() -> None:
    event = load_event("batch_job_running.json")
    event["detail"]["someFieldAwsAddsLater"] = {"x": 1}
    event["detail"]["container"]["newThing"] = [1, 2]
    event["brandNewTopLevel"] = True

    assert parse_event(event).detail.status == "RUNNING"


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda e: e["detail"].pop("jobId"), "jobId"),
        (lambda e: e["detail"].update(status="EXPLODED"), "status"),
        (lambda e: e["detail"].update(attempts="many"), "attempts"),
        (lambda e: e.update(source="aws.ecs"), "source"),
        (lambda e: e.pop("detail"), "detail"),
    ],
)
def test_malformed_event_is_a_clear_error(mutate: Any, named: str) -> None:
    event = copy.deepcopy(load_event("batch_job_failed.json"))
    mutate(event)

    with pytest.raises(BadJobStateEventError, match=named):
        parse_event(event)


def test_non_object_event_is_rejected() -> None:
    with pytest.raises(BadJobStateEventError, match="JSON object"):
        parse_event(["not", "an", "event"])


# --- ordering ------------------------------------------------------------------------------


def test_retry_is_newer_than_the_running_attempt_before_it() -> None:
    running = change(batch_event("RUNNING", 0))
    retry = change(batch_event("RUNNABLE", 1))

    assert retry.order > running.order
    assert retry.will_retry
    assert not running.will_retry


def test_terminal_status_outranks_every_earlier_event() -> None:
    events = lifecycle("FAILED")
    final = change(events[-1])

    assert all(change(event).order < final.order for event in events[:-1])


def test_duplicate_changes_nothing() -> None:
    running = change(batch_event("RUNNING", 0))
    run = apply(None, running)

    assert run is not None
    assert apply(run, running) is None


def test_older_event_does_not_overwrite_terminal() -> None:
    events = lifecycle("SUCCEEDED")
    run = fold([events[-1]])

    assert run is not None
    for older in events[:-1]:
        assert apply(run, change(older)) is None
    assert run.status == Status.SUCCEEDED


def test_full_lifecycle_with_a_retry_ends_failed_with_both_attempts() -> None:
    run = fold(lifecycle("FAILED"))

    assert run is not None
    assert run.status == Status.FAILED
    assert [attempt.exit_code for attempt in run.attempts] == [1, 2]
    assert [attempt.log_stream for attempt in run.attempts] == [
        "batchcron/default/task1",
        "batchcron/default/task2",
    ]
    assert run.exit_code == 2
    assert run.log_stream == "batchcron/default/task2"
    assert run.duration_seconds == 300
    assert run.max_attempts == 2


@settings(max_examples=60, deadline=None)
@given(
    final=st.sampled_from(["FAILED", "SUCCEEDED"]),
    data=st.data(),
)
def test_any_order_with_duplicates_gives_the_same_record(final: str, data: Any) -> None:
    events = lifecycle(final)
    expected = fold(events)
    extra = data.draw(st.lists(st.sampled_from(events), max_size=6), label="duplicates")
    shuffled = data.draw(st.permutations(events + extra), label="order")

    # Except the timeline's RUNNABLE and STARTING times: Batch's events carry no timestamp of
    # those, so only such an event that applies (not one overtaken by a newer) records its own.
    found = fold(shuffled)
    assert found is not None and expected is not None
    unordered = {"runnable_at": None, "starting_at": None}
    assert found.model_copy(update=unordered) == expected.model_copy(update=unordered)
    assert found.running_at == expected.running_at is not None


# --- which run -----------------------------------------------------------------------------


def test_batchcron_run_is_found_by_its_tags() -> None:
    identity = identify(parse_event(batch_event("RUNNING")).detail, CATALOGUE)

    assert (identity.job, identity.run_id, identity.trigger) == (
        "parish",
        "parish-20260101T000000",
        "schedule",
    )
    assert identity.repository == "digital-land/parish-collection"


def test_batchcron_run_without_tags_is_found_by_its_environment() -> None:
    event = batch_event("RUNNING")
    event["detail"]["tags"] = {"resourceArn": event["detail"]["jobArn"]}

    identity = identify(parse_event(event).detail, CATALOGUE)

    assert (identity.job, identity.run_id, identity.foreign) == (
        "parish",
        "parish-20260101T000000",
        False,
    )


def test_foreign_job_lands_on_the_catalogue_job_of_its_repository() -> None:
    event = batch_event(
        "RUNNING",
        job=None,
        job_name="historic-england-collection",
        repository="historic-england-collection",
        job_id="11112222-3333-4444-5555-666677778888",
    )

    identity = identify(parse_event(event).detail, CATALOGUE)

    assert identity.foreign
    assert identity.job == "historic-england"
    assert identity.run_id == "historic-england-collection-11112222"
    assert identity.repository == "digital-land/historic-england-collection"
    assert identity.trigger == "manual"


def test_foreign_job_of_an_unknown_repository_is_recorded_under_the_repository() -> None:
    event = batch_event(
        "RUNNING", job=None, job_name="adhoc", repository="brownfield-land-collection"
    )

    assert identify(parse_event(event).detail, CATALOGUE).job == "brownfield-land-collection"


@pytest.mark.parametrize(
    ("name", "job"),
    [
        ("tree-preservation-zone-20240101T000000", "tree-preservation-zone"),
        ("tree-preservation-zone-20240101", "tree-preservation-zone"),
        ("tree-preservation-zone-2024-01-01-10-30-00", "tree-preservation-zone"),
        ("tree-preservation-zone-1704067200", "tree-preservation-zone"),
        ("tree-preservation-zone-1704067200123", "tree-preservation-zone"),
        ("Nightly_Build", "nightly-build"),
        ("v2-builder", "v2-builder"),
    ],
)
def test_foreign_job_without_repository_is_its_name_minus_a_timestamp(name: str, job: str) -> None:
    event = batch_event("RUNNING", job=None, job_name=name, repository=None)

    assert identify(parse_event(event).detail, CATALOGUE).job == job


def test_foreign_runs_with_the_same_name_stay_apart() -> None:
    first = batch_event("RUNNING", job=None, job_name="x-collection", job_id="aaaaaaaa-1")
    second = batch_event("RUNNING", job=None, job_name="x-collection", job_id="bbbbbbbb-2")

    assert change(first).run_id != change(second).run_id


# --- stuck jobs ----------------------------------------------------------------------------


def test_runnable_time_limit_cancellation_is_recognised() -> None:
    reason = STUCK
    event = batch_event("FAILED", 0, reason=reason)

    assert change(event).stuck == "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"


@pytest.mark.parametrize(
    "reason",
    [
        "Essential container in task exited",
        "Job attempt duration exceeded timeout",
        "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested",
        None,
    ],
)
def test_other_failures_are_not_stuck(reason: str | None) -> None:
    assert stuck_reason(Status.FAILED, reason) is None


def test_a_runnable_job_with_a_capacity_reason_is_not_yet_stuck() -> None:
    assert (
        stuck_reason(Status.RUNNABLE, "Canceled by JobStateTimeLimit action due to reason: X")
        is None
    )


def test_a_job_batchcron_cancelled_is_recorded_cancelled() -> None:
    cancelled = change(batch_event("FAILED", 1, reason="batchcron: cancelled by alice"))
    assert cancelled.status == Status.CANCELLED and cancelled.terminal
    assert cancelled.fields["status"] == "CANCELLED"
    assert cancelled.fields["reason"] == "batchcron: cancelled by alice"
    # Any other reason for a FAILED job stays a failure.
    assert change(batch_event("FAILED", 1, reason="Job terminated")).status == Status.FAILED


def test_a_run_keeps_its_size_architecture_and_first_running_time() -> None:
    # The sample event's container says 1 vCPU, 2048 MiB, X86_64 (events/batch_job_failed.json).
    events = lifecycle("FAILED")
    run = fold(events)

    assert run is not None
    assert (run.vcpus, run.memory_mib, run.architecture) == (1.0, 2048, "X86_64")
    assert run.running_at == run.attempts[0].started_at


def test_runnable_and_starting_times_are_the_first_seen() -> None:
    runnable = batch_event("RUNNABLE")
    runnable["time"] = "2026-01-01T00:00:05Z"
    starting = batch_event("STARTING")
    starting["time"] = "2026-01-01T00:00:40Z"

    run = fold([runnable, starting])

    assert run is not None
    assert (run.runnable_at, run.starting_at) == (
        "2026-01-01T00:00:05.000Z",
        "2026-01-01T00:00:40.000Z",
    )


# --- the most specific cause ------------------------------------------------------------------


def test_a_generic_status_reason_is_given_its_last_attempts_container_reason() -> None:
    event = batch_event("FAILED", 1, reason="Task failed to start")
    cause = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
    event["detail"]["attempts"][-1]["container"]["reason"] = cause

    recorded = fold([event])

    assert recorded is not None
    assert recorded.reason == "Task failed to start"
    assert recorded.specific_cause == cause


def test_a_container_reason_equal_to_the_status_reason_adds_nothing() -> None:
    event = batch_event("FAILED", 1, reason="Essential container in task exited")
    event["detail"]["attempts"][-1]["container"]["reason"] = "Essential container in task exited"

    recorded = fold([event])

    assert recorded is not None and recorded.specific_cause is None


def test_an_eks_attempt_gives_its_exit_code_and_reason() -> None:
    event = batch_event("FAILED", 0, reason="Essential container in pod exited")
    detail = event["detail"]
    detail.pop("container", None)
    detail["eksAttempts"] = [
        {
            "containers": [
                {"name": "sidecar", "exitCode": 0},
                {"name": "main", "exitCode": 137, "reason": "OOMKilled"},
            ],
            "startedAt": 1767225660000,
            "stoppedAt": 1767225960000,
            "statusReason": "Pod failed",
        }
    ]

    recorded = fold([event])

    assert recorded is not None
    assert recorded.exit_code == 137
    assert recorded.attempts[-1].reason == "OOMKilled"
    assert recorded.specific_cause == "OOMKilled"
