"""AWS Batch adapter: submit, look up, terminate."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchcron.adapters import aws

# Fargate infrastructure failures worth another attempt; everything else exits (≤ 5 conditions).
RETRY_ON_EXIT = (
    {"onStatusReason": "CannotPullContainerError*", "action": "RETRY"},
    {"onStatusReason": "ResourceInitializationError*", "action": "RETRY"},
    {"onStatusReason": "Task failed to start", "action": "RETRY"},
    {"onReason": "*", "action": "EXIT"},
)
FINISHED = frozenset({"SUCCEEDED", "FAILED"})
THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})


class BatchUnavailableError(RuntimeError):
    """Batch refused or could not take the request after retries."""


@dataclass(frozen=True)
class JobSpec:
    """Everything SubmitJob needs for one run."""

    name: str
    queue: str
    definition: str
    environment: Mapping[str, str]
    vcpus: float
    memory_mib: int
    timeout_minutes: int
    attempts: int
    tags: Mapping[str, str]

    def request(self) -> dict[str, Any]:
        return {
            "jobName": self.name,
            "jobQueue": self.queue,
            "jobDefinition": self.definition,
            "containerOverrides": {
                "environment": [
                    {"name": key, "value": value} for key, value in sorted(self.environment.items())
                ],
                "resourceRequirements": [
                    {"type": "VCPU", "value": f"{self.vcpus:g}"},
                    {"type": "MEMORY", "value": str(self.memory_mib)},
                ],
            },
            "timeout": {"attemptDurationSeconds": self.timeout_minutes * 60},
            "retryStrategy": {
                "attempts": self.attempts,
                "evaluateOnExit": [dict(rule) for rule in RETRY_ON_EXIT],
            },
            "tags": dict(self.tags),
            "propagateTags": True,
        }


class Batch:
    """Thin wrapper over the Batch client.

    SubmitJob has no idempotency token, so it is not left to botocore's blind retries: a
    throttled call (certainly not accepted) is retried with exponential backoff and full
    jitter; after an ambiguous failure (5xx, timeout, dropped connection) the job is first
    looked up by its unique name, so a submit whose answer was lost is not made twice.
    Patient (dispatcher) keeps trying for about a minute; impatient (webhook) gives up within
    a few seconds so GitHub gets its answer in time.
    """

    def __init__(
        self,
        client: Any | None = None,
        *,
        submit_client: Any | None = None,
        patient: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        self._client = client
        self._submit_client = submit_client or client
        self.patient = patient
        self.sleep = sleep
        self.random = random.Random(seed)
        self.clock = clock
        self.max_attempts = 40 if patient else 3
        # Short caps: a throttled caller that sleeps long leaves the account's rate unused.
        self.backoff_cap = 2.0 if patient else 0.5
        # Seconds one submit may take, retries included: well inside the dispatcher's timeout,
        # and for the webhook well inside GitHub's 10 s.
        self.budget = 90.0 if patient else 4.0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.batch(self.patient)
        return self._client

    @property
    def submit_client(self) -> Any:
        if self._submit_client is None:
            self._submit_client = aws.batch_submit(self.patient)
        return self._submit_client

    def submit(self, spec: JobSpec) -> str:
        """SubmitJob; returns the Batch job id. BatchUnavailableError once retries are spent."""
        from botocore.exceptions import BotoCoreError, ClientError

        request = spec.request()
        error = "no attempt made"
        started = self.clock()
        for attempt in range(self.max_attempts):
            if attempt:
                delay = self.random.uniform(0, min(self.backoff_cap, 0.1 * 2**attempt))
                if self.clock() - started + delay > self.budget:
                    break
                self.sleep(delay)
            try:
                response = self.submit_client.submit_job(**request)
                return str(response["jobId"])
            except ClientError as exc:
                error = _describe(exc)
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code in THROTTLED or status == 429:
                    continue
                if status < 500:
                    raise BatchUnavailableError(error) from exc  # refused: retrying won't help
            except BotoCoreError as exc:  # timeouts and dropped connections
                error = _describe(exc)
            if self.clock() - started > self.budget:
                break
            existing = self._lookup(spec)
            if existing is not None:
                return existing
        raise BatchUnavailableError(f"{error} (after {attempt + 1} attempt(s))")

    def _lookup(self, spec: JobSpec) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.find_by_name(spec.queue, spec.name)
        except (ClientError, BotoCoreError):
            return None

    def describe(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """DescribeJobs (100 at a time): job id -> description; unknown ids are absent."""
        found: dict[str, dict[str, Any]] = {}
        ids = [job_id for job_id in dict.fromkeys(job_ids) if job_id]
        for start in range(0, len(ids), 100):
            response = self.client.describe_jobs(jobs=ids[start : start + 100])
            for job in response.get("jobs", []):
                found[job["jobId"]] = job
        return found

    def find_by_name(self, queue: str, name: str) -> str | None:
        """The id of a job named `name` in `queue` (any status), if Batch has one."""
        response = self.client.list_jobs(
            jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}]
        )
        for job in response.get("jobSummaryList", []):
            if job.get("jobName") == name:
                return str(job["jobId"])
        return None

    def terminate(self, job_id: str, reason: str) -> None:
        self.client.terminate_job(jobId=job_id, reason=reason[:256])


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
