"""Local mode's hold on moto's Batch backend, so every client sees Batch as local mode plays it.

moto's simple Batch backend finishes a job the moment it is submitted. Local mode runs moto's
server in its own process, so it can reach the backend itself: while installed, a submitted job
stays SUBMITTED, and the synthesizer (`local/synth.py`) moves it through RUNNABLE, STARTING,
RUNNING to SUCCEEDED or FAILED. Every client — the handlers, the CLI in another terminal, the
`aws` CLI pointed at the endpoint — then reads the same states from DescribeJobs and ListJobs,
so `concurrency: forbid` holds for each of them as it would on AWS.

Batch's times (created, started, stopped) and CloudWatch Logs' clock are local mode's one clock
(`models.utcnow`, set by `batchcron local --now`), as on AWS, where they are the services' own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchcron.models import utcnow

ACCOUNT = "123456789012"  # moto's default account

_lock = threading.Lock()
_installed = 0
_original: Any = None
_original_logs_clock: Any = None


def _hold(self: Any, include_start_attempt: bool, job: Any) -> None:
    """Replaces BatchSimpleBackend._mark_job_as_finished: register the job, leave it SUBMITTED."""
    self.backend._jobs[job.job_id] = job
    job._transitions = []  # moto's state manager must not move it on by itself
    job.status = "SUBMITTED"
    job.job_created_at = _moto_time(now_millis())  # moto's own is real time, not local mode's


def install() -> None:
    """Hold submitted jobs, and run moto's CloudWatch Logs on local mode's clock
    (reference-counted; `uninstall` undoes one `install`)."""
    global _installed, _original, _original_logs_clock
    import moto.logs.models as logs_models
    from moto.batch_simple.models import BatchSimpleBackend

    with _lock:
        if _installed == 0:
            _original = BatchSimpleBackend.__dict__["_mark_job_as_finished"]
            BatchSimpleBackend._mark_job_as_finished = _hold  # type: ignore[method-assign]
            _original_logs_clock = logs_models.utcnow
            logs_models.utcnow = _logs_utcnow
        _installed += 1


def uninstall() -> None:
    global _installed
    import moto.logs.models as logs_models
    from moto.batch_simple.models import BatchSimpleBackend

    with _lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed == 0:
            BatchSimpleBackend._mark_job_as_finished = _original  # type: ignore[method-assign]
            logs_models.utcnow = _original_logs_clock


@dataclass(frozen=True)
class Played:
    """One state of a job as local mode plays it."""

    status: str
    started_ms: int | None = None
    stopped_ms: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    log_stream: str | None = None
    attempt: dict[str, Any] | None = None


def now_millis() -> int:
    """Batch's clock in local mode: the one clock (set by `--now`), in epoch milliseconds."""
    return int(utcnow().timestamp() * 1000)


def _moto_time(millis: int) -> datetime:
    """moto's Batch backend keeps naive local times (it reports them through `.timestamp()`)."""
    return datetime.fromtimestamp(millis / 1000)


def _logs_utcnow() -> datetime:
    """moto's CloudWatch Logs clock (naive UTC, as moto's own): local mode's, so the log lines of
    a run at the set instant fall inside PutLogEvents' window (14 days back, 2 hours ahead)."""
    return utcnow().replace(tzinfo=None)


class PlayedBatch:
    """Reads and writes the played state of jobs in moto's in-process Batch backend."""

    def __init__(self, region: str, account: str = ACCOUNT) -> None:
        self.region = region
        self.account = account

    def _job(self, job_id: str) -> Any:
        from moto.batch.models import batch_backends

        return batch_backends[self.account][self.region]._jobs.get(job_id)

    def terminated(self, job_id: str) -> str | None:
        """The reason given to TerminateJob (or CancelJob), None when nobody asked."""
        job = self._job(job_id)
        if job is None or not job.stop:
            return None
        return str(job.job_stopped_reason or "terminated")

    def set(self, job_id: str, played: Played) -> None:
        job = self._job(job_id)
        if job is None:
            return
        if played.log_stream:
            job.log_stream_name = played.log_stream
        if played.started_ms is not None:
            job.job_started_at = _moto_time(played.started_ms)
        if played.stopped_ms is not None:
            job.job_stopped_at = _moto_time(played.stopped_ms)
            job.exit_code = played.exit_code
            job.attempts = [played.attempt] if played.attempt else []
            if played.reason:
                job.job_stopped_reason = played.reason
            job.job_stopped = True
        job.status = played.status
