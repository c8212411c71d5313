"""The dispatcher: every tick, submit each due slot of each scheduled job exactly once.

Window: slots in (watermark, tick] — the watermark is one item for the whole catalogue, so a
tick with nothing due costs O(1) AWS calls. Catch-up after an outage runs only the latest
missed slot per job, within its starting deadline; older slots are recorded MISSED. An
operator's `replay_from` runs every slot in (replay_from, tick] once instead.

One fault stays with its item: an exception in one job's slot is that run's SUBMIT_FAILED (the
other jobs are still submitted and the watermark still advances), an exception in one outbox item
leaves the others alone; the tick then raises TickFailedError. Due slots go first; the outbox
(re-drives, then alerts) runs after them, only while the invocation has time to spare.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from batchcron.catalogue.model import Catalogue, Job
from batchcron.catalogue.schedule import slots_between
from batchcron.models import JobState, Run, Status, Trigger, bound_text, iso, parse_time, utcnow
from batchcron.observability import logger
from batchcron.scheduling.submit import (
    REDRIVE_AFTER,
    Outcome,
    OverrideNotAllowedError,
    Request,
    Submitter,
    run_name,
)
from batchcron.store.items import ConflictError
from batchcron.store.runs import ALERTS, OUTBOX, RunStore

MAX_MISSED_RECORDS = 20  # per job per tick; more are counted, not recorded one by one
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew a tick may have; more is refused
# Outbox work stops when fewer seconds than this are left in the invocation (room for one last
# Slack request of a few seconds and the tick's own bookkeeping, well inside the function
# timeout), or when the tick has run this long (so one tick's outbox does not overlap the next).
OUTBOX_RESERVE_SECONDS = 20.0
TICK_BUDGET_SECONDS = 40.0

Deliver = Callable[[Run, Job | None], bool]
Notice = Callable[[Job, str], bool]  # one line to a job's alert channel (scheduling.waits)
TimeLeft = Callable[[], float]
# A per-tick check over the tick's window (start, end] (deadlines, ...): after the due slots,
# each in its own try, so one that fails is logged and never stops the tick or the others.
TickCheck = Callable[[datetime, datetime], object]


class TickFailedError(RuntimeError):
    """Some due runs could not be submitted (recorded SUBMIT_FAILED; later ticks retry), or an
    outbox item failed; everything else in the tick was done."""


class FutureTickError(ValueError):
    """The tick's scheduled_time or replay_from is ahead of the clock; nothing was submitted."""


class _Budget:
    """The tick's time, from the invocation's remaining time (none known: unlimited)."""

    def __init__(self, time_left: TimeLeft | None) -> None:
        self.time_left = time_left
        self.at_start = time_left() if time_left is not None else 0.0

    def spent(self) -> bool:
        if self.time_left is None:
            return False
        left = self.time_left()
        return left < OUTBOX_RESERVE_SECONDS or self.at_start - left > TICK_BUDGET_SECONDS


def _error_text(exc: BaseException) -> str:
    return bound_text(f"{type(exc).__name__}: {exc}") or type(exc).__name__


@dataclass
class TickResult:
    scheduled_time: str
    window_start: str | None
    outcomes: list[Outcome] = field(default_factory=list)
    missed: int = 0
    redriven: int = 0
    alerts_sent: int = 0
    waits_overdue: int = 0
    outbox_failed: int = 0
    outbox_deferred: int = 0  # outbox items left for the next tick (out of time)
    # Failed slots whose failure could not be recorded either (appended from worker threads).
    unrecorded: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int | str | None]:
        actions: dict[str, int] = {}
        for outcome in self.outcomes:
            actions[outcome.action] = actions.get(outcome.action, 0) + 1
        return {
            "scheduled_time": self.scheduled_time,
            "window_start": self.window_start,
            **actions,
            "missed": self.missed,
            "redriven": self.redriven,
            "alerts_sent": self.alerts_sent,
            "waits_overdue": self.waits_overdue,
            "outbox_failed": self.outbox_failed,
            "outbox_deferred": self.outbox_deferred,
        }


class Dispatcher:
    def __init__(
        self,
        catalogue: Catalogue,
        store: RunStore,
        submitter: Submitter,
        *,
        deliver_alert: Deliver | None = None,
        notice: Notice | None = None,
        workers: int = 8,
        clock: Callable[[], datetime] = utcnow,
        checks: list[TickCheck] | None = None,
        notify_text: Callable[[Job, str], bool] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.submitter = submitter
        self.deliver_alert = deliver_alert
        self.notice = notice
        self.workers = max(1, workers)
        self.clock = clock
        self.checks = checks if checks is not None else self._default_checks(notify_text)

    def _default_checks(self, notify_text: Callable[[Job, str], bool] | None) -> list[TickCheck]:
        from batchcron.catalogue.deadlines import with_deadlines

        if not with_deadlines(self.catalogue):
            return []
        from batchcron.scheduling.deadlines import DeadlineChecks

        return [DeadlineChecks(self.catalogue, self.store, notify_text, clock=self.clock)]

    def tick(
        self,
        scheduled_time: datetime,
        *,
        replay_from: datetime | None = None,
        only_job: str | None = None,
        time_left: TimeLeft | None = None,
        trigger: Trigger = "schedule",
    ) -> TickResult:
        """Run one tick: due slots, then the outbox while `time_left()` (seconds left in the
        invocation) allows. Raises FutureTickError before doing anything for a tick from the
        future; TickFailedError (after doing everything else) when a due run could not be
        submitted or an outbox item failed, so the failure destination sees it."""
        now = self.clock()
        self._refuse_future(scheduled_time, replay_from, now)
        budget = _Budget(time_left)
        result = TickResult(scheduled_time=iso(scheduled_time) or "", window_start=None)

        if replay_from is not None:
            start: datetime | None = replay_from
        else:
            start = self._watermark(scheduled_time, now)
        result.window_start = iso(start)
        if start is not None and start < scheduled_time:
            jobs = self.catalogue.scheduled()
            if only_job is not None:
                jobs = [self.catalogue.get(only_job)]
            due = self._due(jobs, start, scheduled_time)
            if due:
                replay = replay_from is not None
                self._run_due(due, scheduled_time, replay=replay, result=result, trigger=trigger)
        if replay_from is None and only_job is None and not result.unrecorded:
            # The first tick ever starts from now: it only sets the watermark. A slot whose
            # failure could not be recorded keeps it back, so the next tick sees the slot again.
            self.store.advance_watermark(min(scheduled_time, now))

        self._check_upstream_cycles(result)
        if replay_from is None and only_job is None and start is not None:
            self._run_checks(start, min(scheduled_time, now))
        self._check_waits(result)
        self._work_outbox(result, budget)

        failed = [o for o in result.outcomes if o.action == "failed"]
        logger.info("tick done", extra={"tick": result.summary()})
        if failed or result.outbox_failed:
            problems = []
            if failed:
                runs = ", ".join(f"{o.run_id} ({o.reason})" for o in failed)
                problems.append(f"{len(failed)} run(s) could not be submitted: {runs}")
            if result.outbox_failed:
                problems.append(f"{result.outbox_failed} outbox item(s) failed (see the log)")
            raise TickFailedError("; ".join(problems))
        return result

    @staticmethod
    def _refuse_future(scheduled: datetime, replay_from: datetime | None, now: datetime) -> None:
        limit = now + FUTURE_TOLERANCE
        for name, moment in (("scheduled_time", scheduled), ("replay_from", replay_from)):
            if moment is not None and moment > limit:
                raise FutureTickError(
                    f"{name} {iso(moment)} is more than {FUTURE_TOLERANCE.seconds // 60} minutes "
                    f"ahead of the clock ({iso(now)}); nothing was submitted"
                )

    def _watermark(self, scheduled: datetime, now: datetime) -> datetime | None:
        """The stored watermark; one that passed the clock (a tick from the future before such
        ticks were refused) is set back, so schedules run again."""
        start = self.store.watermark()
        if start is not None and start > now + FUTURE_TOLERANCE:
            logger.error("watermark is ahead of the clock; setting it back", watermark=iso(start))
            start = min(scheduled, now) - timedelta(minutes=1)
            self.store.rewind_watermark(start)
        return start

    # --- due slots ------------------------------------------------------------------------
    def _due(
        self, jobs: list[Job], start: datetime, end: datetime
    ) -> dict[str, tuple[Job, list[datetime]]]:
        due: dict[str, tuple[Job, list[datetime]]] = {}
        memo: dict[tuple[str, str], list[datetime]] = {}
        for job in jobs:
            if not job.enabled or not job.schedule:
                continue
            key = (job.schedule, job.timezone)
            if key not in memo:
                memo[key] = slots_between(job.schedule, job.timezone, start, end)
            if memo[key]:
                due[job.name] = (job, memo[key])
        return due

    def _run_due(
        self,
        due: dict[str, tuple[Job, list[datetime]]],
        now: datetime,
        *,
        replay: bool,
        result: TickResult,
        trigger: Trigger = "schedule",
    ) -> None:
        states = self.store.job_states(list(due))

        def one_job(name: str) -> list[Outcome]:
            job, slots = due[name]
            state = states[name]
            if state.paused:
                logger.info("job paused; slots not run", job=name, slots=len(slots))
                return []
            if not replay:
                try:
                    slots = self._catch_up(job, slots, now, result)
                except Exception as exc:  # one job's fault stays with that job
                    logger.exception("catch-up failed", job=name)
                    run_id = run_name(job.name, slots[-1], precise=False)
                    result.unrecorded.append(run_id)
                    return [Outcome(job.name, run_id, "failed", reason=_error_text(exc))]
            outcomes = []
            for slot in slots:
                request = Request(
                    job=job,
                    trigger=trigger,
                    run_id=run_name(job.name, slot, precise=False),
                    slot=slot,
                    deadline=slot + timedelta(minutes=job.starting_deadline_minutes),
                )
                outcomes.append(self._trigger(request, state if len(slots) == 1 else None, result))
            return outcomes

        names = list(due)
        if self.workers == 1 or len(names) == 1:
            batches = [one_job(name) for name in names]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(names))) as pool:
                batches = list(pool.map(one_job, names))
        for outcomes in batches:
            result.outcomes.extend(outcomes)

    def _trigger(self, request: Request, state: JobState | None, result: TickResult) -> Outcome:
        """One slot through the submit path; whatever it raises becomes the run's
        SUBMIT_FAILED (retried by later ticks until its deadline, alerted once)."""
        try:
            return self.submitter.trigger(request, state)
        except Exception as exc:
            error = _error_text(exc)
            logger.exception("submit path failed", job=request.job.name, run_id=request.run_id)
        try:
            outcome = self.submitter.fail(request, error)
        except Exception:
            logger.exception("could not record the failed submit", run_id=request.run_id)
            result.unrecorded.append(request.run_id)
            return Outcome(request.job.name, request.run_id, "failed", reason=error)
        if outcome.action != "failed":
            return outcome
        return Outcome(request.job.name, request.run_id, "failed", reason=error)

    def _catch_up(
        self, job: Job, slots: list[datetime], now: datetime, result: TickResult
    ) -> list[datetime]:
        """Keep only the latest slot, and only within the starting deadline; record the rest
        MISSED (one alert per job per tick, on the latest missed slot)."""
        deadline = timedelta(minutes=job.starting_deadline_minutes)
        latest = slots[-1]
        keep = [latest] if now - latest <= deadline else []
        missed = slots[:-1] if keep else slots
        if not missed:
            return keep
        result.missed += len(missed)
        recorded = missed[-MAX_MISSED_RECORDS:]
        for slot in recorded:
            run = Run(
                job=job.name,
                run_id=run_name(job.name, slot, precise=False),
                trigger="schedule",
                status=Status.CLAIMED,
                created_at=iso(slot) or "",
                slot=iso(slot),
                repository=job.repository,
            )
            if not self.store.claim_run(run):
                continue  # another tick handled this slot
            if slot == latest:
                reason = f"past its starting deadline ({job.starting_deadline_minutes} min)"
            else:
                reason = "passed during an outage; only the latest slot runs"
            self.submitter.miss(job, run, reason, alert=slot == recorded[-1])
        if len(missed) > len(recorded):
            logger.warning(
                "older missed slots not recorded one by one",
                job=job.name,
                missed=len(missed),
                recorded=len(recorded),
            )
        return keep

    # --- after: jobs -------------------------------------------------------------------------
    def _check_upstream_cycles(self, result: TickResult) -> None:
        """Start `after:` jobs whose cycle is complete but not started (a lost state event, a
        crash, a resumed job). O(jobs with after): one batched state read. Its failure is logged
        and never stops the rest of the tick."""
        try:
            from batchcron.scheduling.cycles import Cycles

            cycles = Cycles(self.catalogue, self.store, lambda: self.submitter, clock=self.clock)
            result.outcomes.extend(cycles.recheck())
        except Exception:
            logger.exception("upstream cycles not checked this tick")

    def _run_checks(self, start: datetime, end: datetime) -> None:
        for check in self.checks:
            try:
                check(start, end)
            except Exception:  # one check's fault never stops the tick or the other checks
                logger.exception("tick check failed", check=type(check).__name__)

    def _check_waits(self, result: TickResult) -> None:
        """The watchdog for `after:` waits (scheduling/waits.py): one alert per overdue wait,
        one follow-up when it starts. Its failure is logged and never stops the tick."""
        try:
            from batchcron.scheduling.waits import Waits

            waits = Waits(self.catalogue, self.store, self.notice, clock=self.clock).check()
            result.waits_overdue = waits.overdue
        except Exception:
            logger.exception("waits not checked this tick")

    # --- outbox -----------------------------------------------------------------------------
    def _work_outbox(self, result: TickResult, budget: _Budget) -> None:
        """Re-drive crashed claims and retry failed submits until their deadline, then send
        alerts: two queues, so no backlog of alerts delays a re-drive. Stops while the
        invocation still has OUTBOX_RESERVE_SECONDS left or the tick has used its budget; the
        rest waits for the next tick."""
        now = self.clock()
        # A submit that failed in this tick is retried by the next one, not again now (its
        # alert is sent now).
        this_tick = {o.run_id for o in result.outcomes if o.action == "failed"}
        for queue in (OUTBOX, ALERTS):
            try:
                runs = self.store.outbox(until=now, queue=queue)
            except Exception:
                logger.exception("outbox not readable", queue=queue)
                result.outbox_failed += 1
                continue
            for index, run in enumerate(runs):
                if budget.spent():
                    result.outbox_deferred += len(runs) - index
                    logger.warning(
                        "out of time; the outbox resumes next tick",
                        queue=queue,
                        left=len(runs) - index,
                    )
                    break
                try:
                    self._outbox_item(run, now, result, redrive=run.run_id not in this_tick)
                except Exception:  # one item's fault stays with that item
                    result.outbox_failed += 1
                    logger.exception("outbox item failed", job=run.job, run_id=run.run_id)

    def _outbox_item(
        self, run: Run, now: datetime, result: TickResult, *, redrive: bool = True
    ) -> None:
        from batchcron.adapters.slack import SlackError

        job = self.catalogue.jobs.get(run.job)
        redrive = redrive and run.status in (Status.CLAIMED, Status.SUBMIT_FAILED)
        if redrive and job is not None:
            try:
                redriven = self._redrive(job, run, now)
            except Exception as exc:
                logger.exception("re-drive failed", job=run.job, run_id=run.run_id)
                self.submitter.fail_run(job, run, _error_text(exc))
                raise
            if redriven:
                result.redriven += 1
                run = self.store.get_run(run.job, run.run_id) or run
        if run.alert is not None and run.alert.state == "pending" and self.deliver_alert:
            try:
                if self.deliver_alert(run, job):
                    result.alerts_sent += 1
            except SlackError as exc:  # recorded on the alert; it is tried again later
                logger.warning(
                    "alert still pending", job=run.job, run_id=run.run_id, error=str(exc)
                )

    def _redrive(self, job: Job, run: Run, now: datetime) -> bool:
        if run.status == Status.SUBMIT_FAILED and run.deadline is None:
            return False  # push/manual: not retried here (a webhook redelivery retries)
        if run.trigger == "upstream" and self.store.job_state(job.name).paused:
            # Pause first, before the re-drive claims anything: an `after:` cycle's run waits
            # in the outbox with its deadline kept ahead, so the cycle's one run starts on
            # resume. (A paused job's scheduled slot is recorded SKIPPED by the submit path.)
            deadline = now + timedelta(minutes=job.starting_deadline_minutes)
            with contextlib.suppress(ConflictError):
                self.store.update_run(
                    run.job,
                    run.run_id,
                    {"deadline": iso(deadline)},
                    expect=[run.status],
                    outbox_at=now + REDRIVE_AFTER,
                )
            logger.info("job paused; re-drive waits for resume", job=job.name, run_id=run.run_id)
            return False
        try:
            self.store.update_run(
                run.job,
                run.run_id,
                {"claimed_at": iso(now)},
                expect=[run.status],
                condition="#claimed_at = :old"
                if run.claimed_at
                else "attribute_not_exists(#claimed_at)",
                values={":old": run.claimed_at} if run.claimed_at else None,
                outbox_at=now + REDRIVE_AFTER,
            )
        except ConflictError:
            return False  # another tick took it
        late = run.deadline is not None and now > parse_time(run.deadline)
        try:
            self.submitter.check_overrides(job)
        except OverrideNotAllowedError as exc:
            if late:
                self.submitter.stop_retrying(job, run)
            else:
                self.submitter.fail_run(job, run, str(exc))
            return True
        queue = job.job_queue or self.submitter.settings.job_queue
        existing = self.submitter.batch.find_by_name(queue, run.run_id)
        if existing is not None:
            logger.info("claimed run was submitted before a crash", run_id=run.run_id)
            self.submitter.adopt(job, run, existing, queue)
            return True
        if late and run.status == Status.SUBMIT_FAILED:
            # Batch refused it: it stays SUBMIT_FAILED (alerted once), never MISSED.
            self.submitter.stop_retrying(job, run)
            return True
        if late:
            self.submitter.miss(job, run, "could not be submitted before its starting deadline")
            return True
        self.submitter.start(job, run)
        return True
