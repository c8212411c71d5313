"""Batch.submit's own retry policy: backoff on throttling, name lookup after ambiguous
failures, a time budget (the webhook must answer inside GitHub's 10 s)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from batchcron.adapters.batch import Batch, BatchUnavailableError, JobSpec

SPEC = JobSpec(
    name="job-20261128T000000",
    queue="q",
    definition="d",
    environment={},
    vcpus=1,
    memory_mib=2048,
    timeout_minutes=10,
    attempts=1,
    tags={},
)


def _error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SubmitJob",
    )


class FakeBatch:
    """Answers SubmitJob from a script of outcomes; ListJobs from `existing`."""

    def __init__(self, script: list[Any], existing: str | None = None) -> None:
        self.script = script
        self.existing = existing
        self.submits = 0
        self.lookups = 0

    def submit_job(self, **_: Any) -> dict[str, str]:
        self.submits += 1
        outcome = self.script.pop(0) if self.script else self.script_default()
        if isinstance(outcome, BaseException):
            raise outcome
        return {"jobId": outcome}

    def script_default(self) -> Any:
        return _error("ServerException", 500)

    def list_jobs(self, **_: Any) -> dict[str, Any]:
        self.lookups += 1
        if self.existing:
            return {"jobSummaryList": [{"jobName": SPEC.name, "jobId": self.existing}]}
        return {"jobSummaryList": []}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def make(fake: FakeBatch, *, patient: bool = True) -> tuple[Batch, Clock]:
    clock = Clock()
    return Batch(fake, patient=patient, sleep=clock.sleep, clock=clock, seed=1), clock


def test_throttling_is_retried_with_backoff_without_lookups() -> None:
    fake = FakeBatch([_error("TooManyRequestsException", 429)] * 4 + ["id-1"])
    batch, clock = make(fake)
    assert batch.submit(SPEC) == "id-1"
    assert fake.submits == 5 and fake.lookups == 0
    assert len(clock.slept) == 4 and all(s >= 0 for s in clock.slept)


def test_an_ambiguous_failure_adopts_the_job_batch_already_has() -> None:
    fake = FakeBatch([ReadTimeoutError(endpoint_url="https://batch")], existing="id-lost")
    batch, _ = make(fake)
    assert batch.submit(SPEC) == "id-lost"
    assert fake.submits == 1 and fake.lookups == 1


def test_a_refusal_is_not_retried() -> None:
    fake = FakeBatch([_error("ClientException", 400)])
    batch, _ = make(fake)
    with pytest.raises(BatchUnavailableError, match="ClientException"):
        batch.submit(SPEC)
    assert fake.submits == 1


def test_the_impatient_client_stays_within_its_time_budget() -> None:
    fake = FakeBatch([])  # Batch answers 500 forever

    batch, clock = make(fake, patient=False)
    original = fake.submit_job

    def slow_submit(**kwargs: Any) -> dict[str, str]:
        clock.now += 1.5  # each call takes its read timeout
        return original(**kwargs)

    fake.submit_job = slow_submit  # type: ignore[method-assign]
    with pytest.raises(BatchUnavailableError):
        batch.submit(SPEC)
    assert clock.now <= batch.budget + 1.5
