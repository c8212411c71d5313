"""Record a Batch job state change: the one path used by JobStateFunction and by local mode.

1. The event is applied to its run with a conditional write keyed on (finished attempts,
   status rank): older events and duplicates change nothing.
2. On a terminal status the run's outcome is counted once in its job's state (failure streak,
   last success/failure) and the overlap guard is released when the run is the active one;
   with `concurrency: queue` the pending run is then submitted through the submit path.
3. The alert the outcome calls for is claimed on the run (pending, in the outbox) and sent.

An event whose tags name a run is first checked against that run (1 read): only the Batch job
batchcron submitted for it may change it; any other is a foreign run under its own key.
An array child's or a node's event records its progress on the parent's run (2-3 writes).

DynamoDB calls (besides that read): 1 per non-terminal event (2 for a run batchcron did not
submit, which also becomes the job's active run); a terminal event with an alert: 4 (apply,
count, claim, mark sent) — one more when the run is not the job's active run (concurrency
`allow`, a released guard). A redelivered event repeats no step that completed: a crash
between steps is finished by the retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from batchcron.catalogue.model import Catalogue, Job, Notify
from batchcron.models import Alert, Run, Status, iso, utcnow
from batchcron.observability import count, logger, measure
from batchcron.outcomes.alerting import outcome_alert
from batchcron.outcomes.events import (
    BatchJobDetail,
    BatchJobStateChange,
    StateChange,
    interpret,
    parse_event,
    untrusted,
)
from batchcron.outcomes.notify import Notifier
from batchcron.scheduling.submit import Submitter
from batchcron.store.runs import RunStore
from batchcron.store.state import Settlement

# A fresh alert is sent right away by the function (and its Lambda retries); the dispatcher
# picks it up from the outbox after this, so the two rarely race for the same alert.
ALERT_RETRY_AFTER = timedelta(minutes=3)


@dataclass
class Recorded:
    """What recording one event did."""

    job: str
    run_id: str
    status: str
    applied: bool
    counted: bool = False
    alert: str | None = None
    alert_sent: bool = False
    started_pending: str | None = None
    started_downstream: list[str] | None = None

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "job": self.job,
            "run_id": self.run_id,
            "status": self.status,
            "applied": self.applied,
        }
        if self.counted:
            found["counted"] = True
        if self.alert:
            found["alert"] = self.alert
            found["alert_sent"] = self.alert_sent
        if self.started_pending:
            found["started_pending"] = self.started_pending
        if self.started_downstream:
            found["started_downstream"] = self.started_downstream
        return found


class Recorder:
    """Records Batch job state changes in the run store and alerts on outcomes."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: RunStore,
        notifier: Notifier,
        *,
        submitter: Callable[[], Submitter] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.notifier = notifier
        self._submitter = submitter
        self.clock = clock

    def record_event(self, event: Any) -> Recorded:
        """Validate a raw EventBridge event, then record it (BadJobStateEventError first)."""
        return self.record(parse_event(event))

    def record(self, event: BatchJobStateChange) -> Recorded:
        change = interpret(event, self.catalogue)
        if not change.identity.foreign and not self._submitted_by_us(change, event.detail):
            # Tags anyone can set: only the job batchcron submitted speaks for its run.
            count("ForeignTaggedJobs")
            logger.warning(
                "foreign job carries batchcron tags",
                job=change.job,
                run_id=change.run_id,
                batch_job_id=event.detail.job_id,
            )
            identity = untrusted(change.identity, event.detail, self.catalogue)
            change = interpret(event, self.catalogue, identity=identity)
        index = event.detail.child_index
        if index is not None:
            return self._record_child(change, event.detail, index)
        job = self.catalogue.jobs.get(change.job)
        item, applied = self.store.apply_batch_event(
            change.job,
            change.run_id,
            order=change.order,
            fields=change.fields,
            defaults=change.defaults,
        )
        result = Recorded(change.job, change.run_id, change.status.value, applied)
        if not item:  # cannot happen: a failed condition means the item exists
            return result
        try:
            return self._after_apply(change, job, item, applied, result)
        finally:
            # The grid's cell of this run, last and even when a step above failed: a failure
            # here fails the event, and its redelivery (a duplicate) writes the cell again.
            self.store.note_run(item)

    def _submitted_by_us(self, change: StateChange, detail: BatchJobDetail) -> bool:
        """Is this the Batch job batchcron submitted for the run its tags name: the run's
        stored batch_job_id, or (a claim being re-driven, its id not yet stored) a job named
        as the claimed run?"""
        run = self.store.get_run(change.job, change.run_id)
        if run is None:
            return False
        if run.batch_job_id:
            return run.batch_job_id == detail.parent_id
        return detail.job_name == run.run_id

    def _record_child(self, change: StateChange, detail: BatchJobDetail, index: int) -> Recorded:
        """An array child's or a node's event: progress on its parent's run, never the run's
        own status (the parent's events decide the outcome, and its one alert)."""
        if change.identity.foreign:
            # The parent's own events may come later: its run item exists from the first child.
            self.store.apply_batch_event(
                change.job,
                change.run_id,
                order=0,
                fields={},
                defaults={
                    **change.defaults,
                    "status": Status.PENDING.value,
                    "batch_job_id": detail.parent_id,
                    "job_queue": detail.job_queue,
                },
            )
        item = self.store.note_child(change.job, change.run_id, index, change.status.value)
        logger.info(
            "child state change recorded" if item else "older or duplicate child change ignored",
            job=change.job,
            run_id=change.run_id,
            child=index,
            status=change.status.value,
        )
        return Recorded(change.job, change.run_id, change.status.value, item is not None)

    def _after_apply(
        self,
        change: StateChange,
        job: Job | None,
        item: dict[str, Any],
        applied: bool,
        result: Recorded,
    ) -> Recorded:
        run = Run.model_validate(item)
        if applied:
            count("StateChangesRecorded")
            logger.info(
                "state change recorded",
                job=change.job,
                run_id=change.run_id,
                status=change.status.value,
                attempts=len(run.attempts),
                foreign=change.identity.foreign,
            )
        else:
            logger.info(
                "older or duplicate state change ignored",
                job=change.job,
                run_id=change.run_id,
                status=change.status.value,
                recorded=run.status.value,
            )
        if not change.terminal:
            if applied:
                self._while_running(change, run, item)
            return result
        return self._settle(run, job, result)

    # --- steps -------------------------------------------------------------------------------
    def _while_running(self, change: StateChange, run: Run, item: dict[str, Any]) -> None:
        if change.status == Status.RUNNING and not change.fields.get("attempts"):
            from batchcron.outcomes.lag import start_lag

            lag = start_lag(run)  # the first attempt reached RUNNING: the run's start lag
            if lag is not None:
                measure("StartLagSeconds", lag, job=run.job)
        if change.identity.foreign:
            since = run.started_at or run.created_at
            self.store.mark_active_if_idle(change.job, change.run_id, change.batch_job_id, since)
        if item.get("outbox_pk") and not (run.alert and run.alert.state == "pending"):
            # The event overtook the submit path's own record of this run.
            self.store.leave_outbox(change.job, change.run_id)

    def _settle(self, run: Run, job: Job | None, result: Recorded) -> Recorded:
        failed = run.status == Status.FAILED
        settlement = self.store.settle_outcome(
            run.job,
            run.run_id,
            failed=failed,
            neutral=run.status == Status.CANCELLED,
            finished_at=run.stopped_at or iso(self.clock()) or "",
            status=run.status.value,
        )
        result.counted = settlement.counted
        if failed:
            self._pause_if_due(run, job, settlement)
        alert = self._alert_due(run, job, settlement)
        if alert is not None and self.store.claim_alert(
            run.job, run.run_id, alert, outbox_at=self.clock() + ALERT_RETRY_AFTER
        ):
            run = run.model_copy(update={"alert": alert})
            count("AlertsRaised")
        if settlement.counted:
            count("RunsFailed" if failed else "RunsSucceeded")
        if run.status == Status.SUCCEEDED and job is not None:
            self._follow_up_deadlines(run, job)
        result.started_pending = self._start_pending(run.job, job, settlement)
        result.started_downstream = self._start_downstream(run.job)
        if run.alert is not None and run.alert.state == "pending":
            result.alert = run.alert.kind
            result.alert_sent = self.notifier.deliver(run, job)  # SlackError: stays pending
        return result

    def _alert_due(self, run: Run, job: Job | None, settlement: Settlement) -> Alert | None:
        """The alert this outcome calls for, when it has none recorded yet. A redelivery after
        a crash between counting and claiming works it out again from the job state."""
        if run.alert is not None and run.alert.kind != "submit_failed":
            return None
        if not settlement.counted and settlement.state.get("last_counted_run_id") != run.run_id:
            return None  # counted, then overtaken by a later run's outcome
        notify = job.notify if job is not None else Notify()
        stuck = run.status == Status.FAILED and _stuck(run)
        alert = outcome_alert(
            run.status,
            notify,
            settlement.failures_before,
            stuck=stuck,
            created_at=iso(self.clock()),
            pause_after=job.pause_after_failures if job is not None else None,
        )
        if alert is not None and run.status == Status.FAILED:
            from batchcron.catalogue.upstream import blocked_by_failure

            blocks = blocked_by_failure(self.catalogue, run.job)
            if blocks:
                alert = alert.model_copy(update={"blocks": blocks})
        return alert

    def _follow_up_deadlines(self, run: Run, job: Job) -> None:
        """A success after a missed deadline: its one follow-up (a failure here is logged; it
        never stops the event being recorded)."""
        if job.deadline is None and job.deadline_minutes is None:
            return
        from batchcron.scheduling.deadlines import follow_up_late

        try:
            follow_up_late(self.store, job, run, self.notifier.send_text)
        except Exception:
            logger.exception("deadline follow-up failed", job=run.job, run_id=run.run_id)

    def _pause_if_due(self, run: Run, job: Job | None, settlement: Settlement) -> None:
        """`pause_after_failures: N`: the N-th failure in a row pauses the job, recorded as
        paused by batchcron and why (also on a redelivery after a crash before the pause)."""
        from batchcron.outcomes.alerting import pause_due

        if job is None or not job.pause_after_failures:
            return
        if not settlement.counted and settlement.state.get("last_counted_run_id") != run.run_id:
            return
        failures = settlement.failures_before + 1
        if not pause_due(failures, job.pause_after_failures):
            return
        reason = f"{failures} failures in a row (pause_after_failures: {job.pause_after_failures})"
        self.store.update_job_state(
            run.job,
            {
                "paused": True,
                "paused_at": iso(self.clock()),
                "paused_by": "batchcron",
                "paused_reason": reason,
            },
        )
        count("JobsPaused")
        logger.warning("job paused after failures", job=run.job, run_id=run.run_id, reason=reason)

    def _start_pending(self, name: str, job: Job | None, settlement: Settlement) -> str | None:
        """With `concurrency: queue`, submit the run waiting behind the one that just ended."""
        if job is None or job.concurrency != "queue" or self._submitter is None:
            return None
        state = settlement.job_state(name)
        if settlement.released:
            state = state.model_copy(
                update={"active_run_id": None, "active_batch_job_id": None, "active_since": None}
            )
        if state.active_run_id is not None or not state.pending_run_id:
            return None
        pending = self.store.get_run(name, state.pending_run_id)
        if pending is None or pending.status != Status.QUEUED:
            return None
        outcome = self._submitter().start(job, pending, state)
        logger.info("queued run started", job=name, run_id=pending.run_id, action=outcome.action)
        return pending.run_id

    def _start_downstream(self, name: str) -> list[str] | None:
        """Start the `after:` jobs whose cycle this outcome completed (also on a redelivered
        event: a crash after counting must not lose the cycle). A failure here is logged and
        left to the dispatcher's tick; it never stops the event being recorded or alerted."""
        if self._submitter is None or not self.catalogue.jobs.get(name):
            return None
        from batchcron.scheduling.cycles import Cycles

        try:
            outcomes = Cycles(self.catalogue, self.store, self._submitter, clock=self.clock)
            started = outcomes.after_outcome(name)
        except Exception:
            logger.exception("downstream jobs not checked; the next tick will", job=name)
            return None
        return [outcome.run_id for outcome in started] or None


def _stuck(run: Run) -> bool:
    from batchcron.outcomes.events import stuck_reason

    return stuck_reason(run.status, run.reason) is not None
