"""Batch Job State Change events for tests, built from the real-shaped sample in events/."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import load_event

T0 = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
EXIT_TEXT = "Essential container in task exited"
# The statusReason AWS Batch documents for a job its queue's RUNNABLE time limit cancelled.
STUCK = (
    "Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def batch_event(
    status: str,
    finished_attempts: int = 0,
    *,
    job: str | None = "parish",
    run_id: str = "parish-20260101T000000",
    job_id: str = "8d2f6a41-93c7-4b0e-a5d2-6e1f0c7b9a34",
    job_name: str | None = None,
    max_attempts: int = 2,
    exit_code: int | None = None,
    reason: str | None = None,
    repository: str | None = "parish-collection",
    region: str = "eu-west-2",
    start: datetime = T0,
) -> dict[str, Any]:
    """One event of a run's lifecycle: `finished_attempts` attempts are over (attempt i ran
    from start + 10i min to start + 10i + 5 min; all failed but the last of a SUCCEEDED)."""
    event = copy.deepcopy(load_event("batch_job_failed.json"))
    detail = event["detail"]
    account = event["account"]
    name = job_name or run_id
    detail.update(
        {
            "jobArn": f"arn:aws:batch:{region}:{account}:job/{job_id}",
            "jobName": name,
            "jobId": job_id,
            "jobQueue": f"arn:aws:batch:{region}:{account}:job-queue/JobQueue-7hQk2mXbLr3P",
            "status": status,
            "createdAt": _ms(start),
            "retryStrategy": {"attempts": max_attempts, "evaluateOnExit": []},
        }
    )
    for key in ("statusReason", "startedAt", "stoppedAt"):
        detail.pop(key, None)
    attempts: list[dict[str, Any]] = []
    for i in range(finished_attempts):
        begun = start + timedelta(minutes=10 * i + 1)
        last = i == finished_attempts - 1
        code = 0 if (status == "SUCCEEDED" and last) else (exit_code if last else 1)
        attempts.append(
            {
                "container": {
                    "exitCode": code if code is not None else 1,
                    "logStreamName": f"batchcron/default/task{i + 1}",
                    "networkInterfaces": [],
                },
                "startedAt": _ms(begun),
                "stoppedAt": _ms(begun + timedelta(minutes=5)),
                "statusReason": EXIT_TEXT,
            }
        )
    detail["attempts"] = attempts
    container = detail["container"]
    for key in ("exitCode", "reason"):
        container.pop(key, None)
    current = finished_attempts if status not in ("SUCCEEDED", "FAILED") else finished_attempts - 1
    container["logStreamName"] = f"batchcron/default/task{max(current, 0) + 1}"
    if status in ("STARTING", "RUNNING") or (status in ("SUCCEEDED", "FAILED") and attempts):
        detail["startedAt"] = _ms(start + timedelta(minutes=10 * max(current, 0) + 1))
    if status in ("SUCCEEDED", "FAILED"):
        if attempts:
            detail["stoppedAt"] = attempts[-1]["stoppedAt"]
            container["exitCode"] = attempts[-1]["container"]["exitCode"]
        else:
            detail["stoppedAt"] = _ms(start + timedelta(minutes=30))
        detail["statusReason"] = reason or EXIT_TEXT
    elif reason:
        detail["statusReason"] = reason
    environment = [
        item
        for item in container["environment"]
        if item["name"] not in ("BATCHCRON_JOB", "BATCHCRON_RUN_ID", "REPOSITORY")
    ]
    tags = {"resourceArn": detail["jobArn"]}
    if job is not None:
        environment += [
            {"name": "BATCHCRON_JOB", "value": job},
            {"name": "BATCHCRON_RUN_ID", "value": run_id},
        ]
        tags.update(
            {"batchcron:job": job, "batchcron:trigger": "schedule", "batchcron:run-id": run_id}
        )
    if repository is not None:
        environment.append({"name": "REPOSITORY", "value": repository})
    container["environment"] = environment
    detail["tags"] = tags
    event["region"] = region
    event["resources"] = [detail["jobArn"]]
    return event


def lifecycle(final: str = "FAILED", **kwargs: Any) -> list[dict[str, Any]]:
    """A run's events in order, with one retried attempt: RUNNABLE, STARTING, RUNNING, then
    RUNNABLE again (attempt 1 failed, Batch retries), STARTING, RUNNING, then `final`."""
    events = []
    for attempt in range(2):
        for status in ("RUNNABLE", "STARTING", "RUNNING"):
            events.append(batch_event(status, attempt, **kwargs))
    events.append(batch_event(final, 2, exit_code=2 if final == "FAILED" else 0, **kwargs))
    return events


def from_batch(event: dict[str, Any], store: Any) -> dict[str, Any]:
    """`event` as from the Batch job batchcron submitted for the run its tags name: its jobId
    (and ARN) become the stored run's batch_job_id; a run not stored yet is first claimed as
    batchcron's submission of this job. (Any other job carrying batchcron's tags is foreign
    by design: tests of a run the submit path did not create go through here.)"""
    from batchcron.models import Run, Status

    detail = event["detail"]
    tags = detail.get("tags") or {}
    job, run_id = tags.get("batchcron:job"), tags.get("batchcron:run-id")
    if not job or not run_id:
        return event
    parent = str(detail["jobId"]).replace("#", ":").split(":")[0]
    run = store.get_run(job, run_id)
    if run is None:
        trigger = tags.get("batchcron:trigger", "manual")
        store.claim_run(
            Run.model_validate(
                {
                    "job": job,
                    "run_id": run_id,
                    "trigger": trigger if trigger in TRIGGERS else "manual",
                    "status": Status.SUBMITTED.value,
                    "created_at": _created(detail),
                    "batch_job_id": parent,
                }
            )
        )
        return event
    made = copy.deepcopy(event)
    if run.batch_job_id:
        suffix = str(detail["jobId"])[len(parent) :]
        made["detail"]["jobId"] = run.batch_job_id + suffix
        arn = str(made["detail"].get("jobArn") or "")
        made["detail"]["jobArn"] = arn.rsplit("/", 1)[0] + f"/{made['detail']['jobId']}"
    else:
        made["detail"]["jobName"] = run_id  # the claim being re-driven
    return made


TRIGGERS = ("schedule", "push", "manual", "upstream", "backfill")


def _created(detail: dict[str, Any]) -> str:
    created = detail.get("createdAt")
    moment = datetime.fromtimestamp(created / 1000, UTC) if created else T0
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
