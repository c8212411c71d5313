"""The dispatcher: every tick, submit each due slot of each scheduled job exactly once.

Window: slots in (watermark, tick] — the watermark is one item for the whole catalogue, so a
tick with nothing due costs O(1) AWS calls. Catch-up after an outage runs only the latest
missed slot per job, within its starting deadline; older slots are recorded MISSED. An
operator's `replay_from` runs every slot in (replay_from, tick] once instead.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from batchcron.catalogue import Catalogue, Job
from batchcron.models import Run, Status, Trigger, iso, parse_time, utcnow
from batchcron.observability import logger
from batchcron.schedule import slots_between
from batchcron.store import ConflictError, RunStore
from batchcron.submit import REDRIVE_AFTER, Outcome, Request, Submitter, run_name

MAX_MISSED_RECORDS = 20  # per job per tick; more are counted, not recorded one by one

Deliver = Callable[[Run, Job | None], bool]


class TickFailedError(RuntimeError):
    """Some due runs could not be submitted (recorded SUBMIT_FAILED; later ticks retry)."""


@dataclass
class TickResult:
    scheduled_time: str
    window_start: str | None
    outcomes: list[Outcome] = field(default_factory=list)
    missed: int = 0
    redriven: int = 0
    alerts_sent: int = 0

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
        }


class Dispatcher:
    def __init__(
        self,
        catalogue: Catalogue,
        store: RunStore,
        submitter: Submitter,
        *,
        deliver_alert: Deliver | None = None,
        workers: int = 8,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.submitter = submitter
        self.deliver_alert = deliver_alert
        self.workers = max(1, workers)
        self.clock = clock

    def tick(
        self,
        scheduled_time: datetime,
        *,
        replay_from: datetime | None = None,
        only_job: str | None = None,
        trigger: Trigger = "schedule",
    ) -> TickResult:
        """Run one tick. Raises TickFailedError (after doing everything else) when a due run
        could not be submitted, so the failure destination sees it."""
        result = TickResult(scheduled_time=iso(scheduled_time) or "", window_start=None)
        self._work_outbox(result)

        if replay_from is not None:
            start: datetime | None = replay_from
        else:
            start = self.store.watermark()
        result.window_start = iso(start)
        if start is not None and start < scheduled_time:
            jobs = self.catalogue.scheduled()
            if only_job is not None:
                jobs = [self.catalogue.get(only_job)]
            due = self._due(jobs, start, scheduled_time)
            if due:
                replay = replay_from is not None
                self._run_due(due, scheduled_time, replay=replay, result=result, trigger=trigger)
        if replay_from is None and only_job is None:
            # The first tick ever starts from now: it only sets the watermark.
            self.store.advance_watermark(scheduled_time)

        failed = [o for o in result.outcomes if o.action == "failed"]
        logger.info("tick done", extra={"tick": result.summary()})
        if failed:
            raise TickFailedError(
                f"{len(failed)} run(s) could not be submitted: "
                + ", ".join(f"{o.run_id} ({o.reason})" for o in failed)
            )
        return result

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
                slots = self._catch_up(job, slots, now, result)
            outcomes = []
            for slot in slots:
                request = Request(
                    job=job,
                    trigger=trigger,
                    run_id=run_name(job.name, slot, precise=False),
                    slot=slot,
                    deadline=slot + timedelta(minutes=job.starting_deadline_minutes),
                )
                outcome = self.submitter.trigger(request, state if len(slots) == 1 else None)
                outcomes.append(outcome)
            return outcomes

        names = list(due)
        if self.workers == 1 or len(names) == 1:
            batches = [one_job(name) for name in names]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(names))) as pool:
                batches = list(pool.map(one_job, names))
        for outcomes in batches:
            result.outcomes.extend(outcomes)

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

    # --- outbox -----------------------------------------------------------------------------
    def _work_outbox(self, result: TickResult) -> None:
        """Re-drive crashed claims, retry failed submits until their deadline, re-send alerts."""
        now = self.clock()
        for run in self.store.outbox(until=now):
            job = self.catalogue.jobs.get(run.job)
            redrive = run.status in (Status.CLAIMED, Status.SUBMIT_FAILED) and job is not None
            if redrive and job is not None and self._redrive(job, run, now):
                result.redriven += 1
                run = self.store.get_run(run.job, run.run_id) or run
            if run.alert is not None and run.alert.state == "pending" and self.deliver_alert:
                try:
                    if self.deliver_alert(run, job):
                        result.alerts_sent += 1
                except Exception:
                    logger.exception("alert still pending", job=run.job, run_id=run.run_id)

    def _redrive(self, job: Job, run: Run, now: datetime) -> bool:
        if run.status == Status.SUBMIT_FAILED and run.deadline is None:
            return False  # push/manual: not retried here (a webhook redelivery retries)
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
        queue = job.job_queue or self.submitter.settings.job_queue
        existing = self.submitter.batch.find_by_name(queue, run.run_id)
        if existing is not None:
            logger.info("claimed run was submitted before a crash", run_id=run.run_id)
            self.submitter.adopt(job, run, existing, queue)
            return True
        if run.deadline is not None and now > parse_time(run.deadline):
            self.submitter.miss(job, run, "could not be submitted before its starting deadline")
            return True
        self.submitter.start(job, run)
        return True
