"""Batch state-change events for local mode.

moto emits no Batch events, and local mode holds every submitted job at SUBMITTED
(`local/played.py`). This watches the local job queue, decides each job's outcome
(`--fail JOB[:N]`), moves the job in moto's backend through RUNNABLE, STARTING, RUNNING and
SUCCEEDED/FAILED, a few seconds apart, and delivers each change in the real EventBridge shape to
the job-state handler, writing the attempt's log lines to CloudWatch Logs (moto) so
`batchcron logs` shows them. A job terminated meanwhile (`batchcron cancel`) ends FAILED with the
reason given.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from batchcron.local.played import Played, PlayedBatch, now_millis

STEPS = ("RUNNABLE", "STARTING", "RUNNING")
RUN_STEPS = 2  # paces spent RUNNING
HANDLER_ATTEMPTS = 3  # Lambda's async invocation: the first try and two retries
ACCOUNT = "123456789012"
EXIT_REASON = "Essential container in task exited"

Deliver = Callable[[dict[str, Any]], Any]
Report = Callable[[str], None]


@dataclass
class Plan:
    """One Batch job's life as local mode plays it."""

    job_id: str
    described: dict[str, Any]
    fail: bool
    first_due: float
    steps: list[str] = field(default_factory=list)
    step: int = 0
    due: float = 0.0
    errors: int = 0
    started_ms: int | None = None
    log_stream: str | None = None
    cancelled: str | None = None


class FailurePlan:
    """`--fail JOB[:N]`: which runs fail (thread-safe counters)."""

    def __init__(self, failures: dict[str, int | None]) -> None:
        self._left = dict(failures)
        self._lock = threading.Lock()

    def decide(self, job: str) -> bool:
        with self._lock:
            if job not in self._left:
                return False
            left = self._left[job]
            if left is None:
                return True
            if left <= 0:
                return False
            self._left[job] = left - 1
            return True


class Synthesizer:
    def __init__(
        self,
        batch: Any,
        queue: str,
        deliver: Deliver,
        *,
        failures: FailurePlan,
        log_group: str | None,
        logs: Any | None,
        region: str,
        played: PlayedBatch | None = None,
        pace: float = 1.0,
        report: Report = print,
        poll: float = 0.2,
    ) -> None:
        self.batch = batch
        self.queue = queue
        self.deliver = deliver
        self.failures = failures
        self.log_group = log_group
        self.logs = logs
        self.region = region
        self.played = played or PlayedBatch(region)
        self.pace = pace
        self.report = report
        self.poll = poll
        self.seen: set[str] = set()
        self.plans: dict[str, Plan] = {}
        self.delivered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="batch-events", daemon=True)

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.step()
            except Exception as exc:  # keep local mode alive; say what broke
                self.report(f"event synthesizer: {type(exc).__name__}: {exc}")

    # --- one pass ---------------------------------------------------------------------------
    def step(self, now: float | None = None) -> None:
        """Find new jobs, then deliver every state change that is due."""
        moment = time.monotonic() if now is None else now
        self._discover(moment)
        for plan in list(self.plans.values()):
            if self._stop.is_set():
                return
            if plan.due <= moment:
                self._advance(plan, moment)

    def busy(self) -> bool:
        return bool(self.plans)

    def _discover(self, now: float) -> None:
        response = self.batch.list_jobs(jobQueue=self.queue, jobStatus="SUBMITTED")
        ids = [j["jobId"] for j in response.get("jobSummaryList", [])]
        fresh = [job_id for job_id in ids if job_id not in self.seen]
        if not fresh:
            return
        for described in self.batch.describe_jobs(jobs=fresh[:100]).get("jobs", []):
            job_id = described["jobId"]
            self.seen.add(job_id)
            tags = described.get("tags") or {}
            job = tags.get("batchcron:job") or described.get("jobName", "")
            plan = Plan(
                job_id=job_id,
                described=described,
                fail=self.failures.decide(job),
                first_due=now,
                steps=[*STEPS, "FAILED"],
                due=now + self.pace,
            )
            plan.steps[-1] = "FAILED" if plan.fail else "SUCCEEDED"
            self.plans[job_id] = plan

    def _advance(self, plan: Plan, now: float) -> None:
        status = plan.steps[plan.step]
        if plan.cancelled is None:
            reason = self.played.terminated(plan.job_id)
            if reason:
                plan.cancelled = reason
                plan.fail = True
                plan.steps = [*plan.steps[: plan.step], "FAILED"]
                status = "FAILED"
        event = self._event(plan, status)
        self.played.set(plan.job_id, _played(event["detail"]))
        try:
            self.deliver(event)
        except Exception as exc:
            plan.errors += 1
            if plan.errors < HANDLER_ATTEMPTS:
                plan.due = now + max(self.pace, 0.2)
                return
            self.report(
                f"job-state handler failed {plan.errors} times on {status} of "
                f"{plan.described.get('jobName')}: {type(exc).__name__}: {exc}"
            )
        plan.errors = 0
        self.delivered += 1
        plan.step += 1
        if plan.step >= len(plan.steps):
            del self.plans[plan.job_id]
            return
        plan.due = now + self.pace * (RUN_STEPS if status == "RUNNING" else 1)

    # --- the event ----------------------------------------------------------------------------
    def _event(self, plan: Plan, status: str) -> dict[str, Any]:
        now_ms = now_millis()
        described = plan.described
        detail: dict[str, Any] = {
            key: value
            for key, value in described.items()
            if key not in ("status", "statusReason", "startedAt", "stoppedAt", "attempts")
        }
        container = dict(described.get("container") or {})
        container.pop("exitCode", None)
        container.pop("logStreamName", None)
        detail["status"] = status
        detail["attempts"] = []
        if status in ("STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
            plan.log_stream = plan.log_stream or self._stream_name(described)
            container["logStreamName"] = plan.log_stream
            container.setdefault("taskArn", self._task_arn(plan))
        if status == "RUNNING":
            plan.started_ms = plan.started_ms or now_ms
            detail["startedAt"] = plan.started_ms
            self._write_logs(plan, status)
        if status in ("SUCCEEDED", "FAILED"):
            started = plan.started_ms or now_ms
            exit_code = 0 if status == "SUCCEEDED" else (137 if plan.cancelled else 2)
            if plan.started_ms is not None:
                container["exitCode"] = exit_code
            reason = plan.cancelled or EXIT_REASON
            attempt: dict[str, Any] = {
                "container": {
                    "exitCode": exit_code,
                    "logStreamName": plan.log_stream,
                    "networkInterfaces": [],
                    "taskArn": container.get("taskArn"),
                },
                "startedAt": started,
                "stoppedAt": now_ms,
                "statusReason": reason,
            }
            if plan.cancelled:
                attempt["container"]["reason"] = "Job terminated"
            if plan.started_ms is not None:
                detail["attempts"] = [attempt]
                detail["startedAt"] = started
            detail["stoppedAt"] = now_ms
            detail["statusReason"] = reason
            self._write_logs(plan, status, exit_code)
        detail["container"] = container
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Batch Job State Change",
            "source": "aws.batch",
            "account": ACCOUNT,
            "time": datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [described.get("jobArn", "")],
            "detail": detail,
        }

    @staticmethod
    def _stream_name(described: dict[str, Any]) -> str:
        definition = str(described.get("jobDefinition", "local"))
        name = definition.rsplit("/", 1)[-1].split(":", 1)[0]
        return f"{name}/default/{uuid.uuid4().hex}"

    def _task_arn(self, plan: Plan) -> str:
        return f"arn:aws:ecs:{self.region}:{ACCOUNT}:task/batchcron-local/{plan.job_id[:32]}"

    def _write_logs(self, plan: Plan, status: str, exit_code: int | None = None) -> None:
        if self.logs is None or not self.log_group or not plan.log_stream:
            return
        try:
            self.logs.write(self.log_group, plan.log_stream, log_lines(plan, status, exit_code))
        except Exception as exc:  # logs are a nicety; the state change matters
            self.report(f"could not write local log lines: {type(exc).__name__}: {exc}")


def _played(detail: dict[str, Any]) -> Played:
    """What moto's backend should now report for the job the event describes."""
    attempts = detail.get("attempts") or []
    status = str(detail["status"])
    terminal = status in ("SUCCEEDED", "FAILED")
    return Played(
        status=status,
        started_ms=detail.get("startedAt"),
        stopped_ms=detail.get("stoppedAt") if terminal else None,
        exit_code=(detail.get("container") or {}).get("exitCode") if terminal else None,
        reason=detail.get("statusReason"),
        log_stream=(detail.get("container") or {}).get("logStreamName"),
        attempt=attempts[-1] if attempts else None,
    )


def log_lines(plan: Plan, status: str, exit_code: int | None) -> list[tuple[int, str]]:
    """Stand-in output of the job's container (no container runs in local mode)."""
    env = {
        item["name"]: item["value"]
        for item in (plan.described.get("container") or {}).get("environment", [])
        if "name" in item and "value" in item
    }
    now = now_millis()
    repository = f"{env.get('GITHUB_ORG', '?')}/{env.get('REPOSITORY', '?')}"
    if status == "RUNNING":
        text = [
            "[batchcron local] no container runs in local mode; these lines stand in for it",
            f"fetch_and_run: running {env.get('BATCH_FILE_URL', '?')}",
            f"cloning https://github.com/{repository} at {env.get('GIT_REF', 'main')}",
            "make init",
            "make",
        ]
    elif plan.cancelled:
        text = [f"terminated: {plan.cancelled}"]
    elif exit_code:
        text = [
            "make: *** [makerules/pipeline.mk:88: collect] Error 2",
            f"[batchcron local] failing this run as asked (--fail); exit code {exit_code}",
        ]
    else:
        text = ["make: done", "exit code 0"]
    return [(now + i, line) for i, line in enumerate(text)]
