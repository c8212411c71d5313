"""AWS Batch adapter: submit, look up, terminate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchcron import aws

# Fargate infrastructure failures worth another attempt; everything else exits (≤ 5 conditions).
RETRY_ON_EXIT = (
    {"onStatusReason": "CannotPullContainerError*", "action": "RETRY"},
    {"onStatusReason": "ResourceInitializationError*", "action": "RETRY"},
    {"onStatusReason": "Task failed to start", "action": "RETRY"},
    {"onReason": "*", "action": "EXIT"},
)
FINISHED = frozenset({"SUCCEEDED", "FAILED"})


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
    """Thin wrapper over the Batch client (patient for the dispatcher, quick for webhooks)."""

    def __init__(self, client: Any | None = None, *, patient: bool = True) -> None:
        self._client = client
        self.patient = patient

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.batch(self.patient)
        return self._client

    def submit(self, spec: JobSpec) -> str:
        """SubmitJob; returns the Batch job id. BatchUnavailableError once retries are spent."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.submit_job(**spec.request())
        except (ClientError, BotoCoreError) as exc:
            raise BatchUnavailableError(_describe(exc)) from exc
        return str(response["jobId"])

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
