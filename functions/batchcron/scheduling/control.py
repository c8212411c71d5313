"""What an operator does to jobs and runs: run now, pause/resume, cancel. One path each, used by
the CLI commands (`submit`, `pause`, `resume`, `cancel`) and the status page's buttons alike,
through `wiring.control()` (which hands in the run store, the submit path and Batch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from batchcron.models import CANCEL_REASON, Run, utcnow

if TYPE_CHECKING:
    from batchcron.adapters.batch import Batch
    from batchcron.scheduling.submit import Submitter
    from batchcron.store.runs import RunStore


class ActionError(ValueError):
    """The action cannot be taken as asked (e.g. the job is disabled); the message says why."""


@dataclass(frozen=True)
class RunNow:
    """The outcome of a manual run: submitted, queued, or skipped/failed and why."""

    action: str
    run_id: str
    batch_job_id: str | None
    reason: str | None
    paused: bool  # the job is paused: refused unless forced
    forced: bool = False  # run anyway, paused or not

    @property
    def ok(self) -> bool:
        return self.action in ("submitted", "queued")

    def describe(self) -> str:
        if self.action == "submitted":
            return f"submitted {self.run_id} (Batch job {self.batch_job_id})"
        if self.action == "refused":
            return f"refused: {self.reason}"
        return f"{self.action} {self.run_id}: {self.reason}"


@dataclass(frozen=True)
class Cancelled:
    result: Literal["dropped", "requested", "nothing"]
    message: str

    @property
    def ok(self) -> bool:
        return self.result != "nothing"


class Control:
    """The operator's actions on one target: its run store, its submit path and its Batch."""

    def __init__(self, store: RunStore, submitter: Submitter, batch: Callable[[], Batch]) -> None:
        self.store = store
        self.submitter = submitter
        self._batch = batch  # made on first use: only a cancel calls Batch

    def run_now(
        self,
        job: str,
        ref: str | None = None,
        *,
        environment: dict[str, str] | None = None,
        now: datetime | None = None,
        force: bool = False,
        pusher: str | None = None,
    ) -> RunNow:
        """Start a manual run of `job` through the one submit path, with `environment` on top
        of the catalogue's (its names checked by the caller), `pusher` saying who asked (a Slack
        user). ActionError when disabled. A
        paused job's run is refused (action `refused`) unless `force`."""
        from batchcron.catalogue.loading import load_catalogue
        from batchcron.scheduling.submit import JobPausedError, Request, run_name

        entry = load_catalogue().get(job)
        if not entry.enabled:
            raise ActionError(f"job {job!r} is disabled in the catalogue (enabled: false)")
        if environment:
            entry = entry.model_copy(update={"environment": {**entry.environment, **environment}})
        paused = self.store.job_state(job).paused
        moment = now or utcnow()
        request = Request(
            job=entry,
            trigger="manual",
            run_id=run_name(job, moment, precise=True),
            git_ref=ref,
            pusher=pusher,
            force=force,
        )
        try:
            outcome = self.submitter.trigger(request)
        except JobPausedError as exc:
            return RunNow("refused", request.run_id, None, str(exc), True, force)
        return RunNow(
            outcome.action, outcome.run_id, outcome.batch_job_id, outcome.reason, paused, force
        )

    def set_paused(
        self,
        job: str,
        paused: bool,
        *,
        now: datetime | None = None,
        who: str | None = None,
        reason: str | None = None,
    ) -> str:
        """Pause or resume `job` (catalogue jobs only), recording who paused it and why; the
        result as one line."""
        from batchcron.catalogue.loading import load_catalogue
        from batchcron.models import iso

        load_catalogue().get(job)
        changes: dict[str, Any] = {
            "paused": paused,
            "paused_at": iso(now or utcnow()) if paused else None,
            "paused_by": (who or "an operator") if paused else None,
            "paused_reason": reason if paused else None,
        }
        self.store.update_job_state(job, changes)
        return f"{job} {'paused' if paused else 'resumed'}"

    def cancel(self, run: Run, who: str) -> Cancelled:
        """Drop a queued run, or ask Batch to terminate a running one."""
        from batchcron.models import Status
        from batchcron.store.items import ConflictError

        if run.status == Status.QUEUED:
            self.store.update_run(
                run.job,
                run.run_id,
                {"status": Status.SUPERSEDED, "reason": "cancelled before it started"},
                expect=[Status.QUEUED],
                outbox_at=None,
            )
            with contextlib.suppress(ConflictError):
                self.store.update_job_state(
                    run.job,
                    {"pending_run_id": None},
                    condition="#pending_run_id = :run",
                    values={":run": run.run_id},
                )
            return Cancelled("dropped", f"dropped queued run {run.run_id}")
        if run.status.terminal or not run.batch_job_id:
            return Cancelled("nothing", f"{run.run_id} is {run.status.value}: nothing to cancel")
        self._batch().terminate(run.batch_job_id, f"{CANCEL_REASON} by {who}")
        from batchcron.models import iso, utcnow

        # Until Batch's CANCELLED event lands, pages say so instead of offering Cancel again.
        with contextlib.suppress(Exception):
            self.store.update_run(
                run.job,
                run.run_id,
                {"cancel_requested_at": iso(utcnow()), "cancel_requested_by": who},
            )
        return Cancelled(
            "requested",
            f"cancel requested for {run.run_id} (Batch job {run.batch_job_id}); "
            "its CANCELLED state arrives shortly",
        )
