"""Local mode's hold on moto's Batch backend, so every client sees Batch as local mode plays it.

moto's simple Batch backend finishes a job the moment it is submitted. Local mode runs moto's
server in its own process, so it can reach the backend itself: while installed, a submitted job
stays SUBMITTED, and the synthesizer (`local/synth.py`) moves it through RUNNABLE, STARTING,
RUNNING to SUCCEEDED or FAILED. Every client — the handlers, the CLI in another terminal, the
`aws` CLI pointed at the endpoint — then reads the same states from DescribeJobs and ListJobs,
so `concurrency: forbid` holds for each of them as it would on AWS.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ACCOUNT = "123456789012"  # moto's default account

_lock = threading.Lock()
_installed = 0
_original: Any = None


def _hold(self: Any, include_start_attempt: bool, job: Any) -> None:
    """Replaces BatchSimpleBackend._mark_job_as_finished: register the job, leave it SUBMITTED."""
    self.backend._jobs[job.job_id] = job
    job._transitions = []  # moto's state manager must not move it on by itself
    job.status = "SUBMITTED"


def install() -> None:
    """Hold submitted jobs (reference-counted; `uninstall` undoes one `install`)."""
    global _installed, _original
    from moto.batch_simple.models import BatchSimpleBackend

    with _lock:
        if _installed == 0:
            _original = BatchSimpleBackend.__dict__["_mark_job_as_finished"]
            BatchSimpleBackend._mark_job_as_finished = _hold  # type: ignore[method-assign]
        _installed += 1


def uninstall() -> None:
    global _installed
    from moto.batch_simple.models import BatchSimpleBackend

    with _lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed == 0:
            BatchSimpleBackend._mark_job_as_finished = _original  # type: ignore[method-assign]


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
            job.job_started_at = datetime.fromtimestamp(played.started_ms / 1000)
        if played.stopped_ms is not None:
            job.job_stopped_at = datetime.fromtimestamp(played.stopped_ms / 1000)
            job.exit_code = played.exit_code
            job.attempts = [played.attempt] if played.attempt else []
            if played.reason:
                job.job_stopped_reason = played.reason
            job.job_stopped = True
        job.status = played.status
