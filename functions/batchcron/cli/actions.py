"""What an operator does to jobs and runs: run now, pause/resume, cancel. One path each, used by
the CLI commands (`submit`, `pause`, `resume`, `cancel`) and the status page's buttons alike.

Callers have pointed the process at its target (`cli.target.activate`) first.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from batchcron.models import Run


class ActionError(ValueError):
    """The action cannot be taken as asked (e.g. the job is disabled); the message says why."""


@dataclass(frozen=True)
class RunNow:
    """The outcome of a manual run: submitted, queued, or skipped/failed and why."""

    action: str
    run_id: str
    batch_job_id: str | None
    reason: str | None
    paused: bool  # the job is paused; a manual run still starts

    @property
    def ok(self) -> bool:
        return self.action in ("submitted", "queued")

    def describe(self) -> str:
        if self.action == "submitted":
            return f"submitted {self.run_id} (Batch job {self.batch_job_id})"
        return f"{self.action} {self.run_id}: {self.reason}"


def run_now(
    job: str,
    ref: str | None = None,
    *,
    environment: dict[str, str] | None = None,
    now: datetime | None = None,
) -> RunNow:
    """Start a manual run of `job` through the one submit path, with `environment` on top of the
    catalogue's (its names checked by the caller). ActionError when disabled."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.submit import Request, run_name
    from batchcron.wiring import store, submitter

    entry = load_catalogue().get(job)
    if not entry.enabled:
        raise ActionError(f"job {job!r} is disabled in the catalogue (enabled: false)")
    if environment:
        entry = entry.model_copy(update={"environment": {**entry.environment, **environment}})
    paused = store().job_state(job).paused
    moment = now or datetime.now(UTC)
    request = Request(
        job=entry, trigger="manual", run_id=run_name(job, moment, precise=True), git_ref=ref
    )
    outcome = submitter().trigger(request)
    return RunNow(outcome.action, outcome.run_id, outcome.batch_job_id, outcome.reason, paused)


def set_paused(job: str, paused: bool, *, now: datetime | None = None) -> str:
    """Pause or resume `job` (catalogue jobs only); the result as one line."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.models import iso
    from batchcron.wiring import store

    load_catalogue().get(job)
    changes: dict[str, Any] = {"paused": paused, "paused_at": iso(now or datetime.now(UTC))}
    if not paused:
        changes["paused_at"] = None
    store().update_job_state(job, changes)
    return f"{job} {'paused' if paused else 'resumed'}"


@dataclass(frozen=True)
class Cancelled:
    result: Literal["dropped", "requested", "nothing"]
    message: str

    @property
    def ok(self) -> bool:
        return self.result != "nothing"


def cancel(run: Run, who: str) -> Cancelled:
    """Drop a queued run, or ask Batch to terminate a running one."""
    from batchcron.adapters.batch import Batch
    from batchcron.jobstate import CANCEL_REASON
    from batchcron.models import Status
    from batchcron.store.items import ConflictError
    from batchcron.wiring import store

    runs_store = store()
    if run.status == Status.QUEUED:
        runs_store.update_run(
            run.job,
            run.run_id,
            {"status": Status.SUPERSEDED, "reason": "cancelled before it started"},
            expect=[Status.QUEUED],
            outbox_at=None,
        )
        with contextlib.suppress(ConflictError):
            runs_store.update_job_state(
                run.job,
                {"pending_run_id": None},
                condition="#pending_run_id = :run",
                values={":run": run.run_id},
            )
        return Cancelled("dropped", f"dropped queued run {run.run_id}")
    if run.status.terminal or not run.batch_job_id:
        return Cancelled("nothing", f"{run.run_id} is {run.status.value}: nothing to cancel")
    Batch().terminate(run.batch_job_id, f"{CANCEL_REASON} by {who}")
    return Cancelled(
        "requested",
        f"cancel requested for {run.run_id} (Batch job {run.batch_job_id}); "
        "its CANCELLED state arrives shortly",
    )
