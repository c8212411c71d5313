"""The tick's deadline check: each job's cycle that had to SUCCEED by now and did not alerts
once; its late finish is followed up once (`follow_up_late`, from the job-state path).

Work per tick: the catalogue's deadlines are computed (pure, no AWS call) over the tick's window
(the watermark's, so missed ticks are caught up); only cycles that fell due cost calls — one
batched job-state read for all of them, a run read for a job with an active run, and one
conditional write per missed cycle (store/checks.py: exactly once per job and cycle however many
ticks see it). A failure in one job's check is logged and the rest go on; nothing here can hold
up a due slot (the tick submits them first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from batchcron.catalogue.deadlines import DeadlineCycle, due_between, with_deadlines
from batchcron.catalogue.model import Catalogue, Job
from batchcron.catalogue.schedule import zone
from batchcron.catalogue.upstream import decide_from_states, upstream_names
from batchcron.models import JobState, Run, Status, iso, parse_time, utcnow
from batchcron.observability import count, logger
from batchcron.store import checks
from batchcron.store.runs import RunStore

KIND = "deadline"
Notify = Callable[[Job, str], bool]  # send one Slack text for a job; True when sent


@dataclass
class DeadlineResult:
    due: int = 0
    met: int = 0
    alerted: list[str] = field(default_factory=list)
    failed: int = 0


def span_text(seconds: float) -> str:
    """`1 h 48 min`, `12 min`, `40 s`."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{total} s"


def clock_text(moment: datetime, tz: str) -> str:
    return moment.astimezone(zone(tz)).strftime("%H:%M")


def due_text(job: Job, cycle: DeadlineCycle) -> str:
    """`07:00` (time-of-day deadlines), or `07:00 (90 min after its slot)`."""
    shown = clock_text(cycle.due, job.timezone)
    if job.deadline_minutes is not None:
        after = "its upstream slot" if cycle.upstream else "its slot"
        return f"{shown} ({job.deadline_minutes} min after {after})"
    return shown


def missed_text(
    job: Job, cycle: DeadlineCycle, state: JobState, active: Run | None, states: dict[str, JobState]
) -> str:
    """`entity-builder not finished by 07:00 (RUNNING since 05:12, 1 h 48 min)` and the like."""
    head = f"{job.name} not finished by {due_text(job, cycle)}"
    tz = job.timezone
    if active is not None and not active.status.terminal:
        since_text = active.running_at or active.started_at or active.created_at
        since = parse_time(since_text)
        lasted = span_text((cycle.due - since).total_seconds())
        return f"{head} ({active.status.value} since {clock_text(since, tz)}, {lasted})"
    if job.after is not None and not job.schedule:
        decided = decide_from_states(job, states, cycle.due)
        if not decided.complete:
            waits = []
            for wait in decided.waiting:
                latest = wait.latest
                upstream = states.get(wait.job)
                if upstream is not None and upstream.active_run_id:
                    begun = upstream.active_since
                    stamp = f" since {clock_text(parse_time(begun), tz)}" if begun else ""
                    waits.append(f"{wait.job}, still running{stamp}")
                elif latest is not None and wait.fresh:
                    stamp = clock_text(latest.finished_at, tz)
                    waits.append(f"{wait.job}, {Status(latest.status).value} {stamp}")
                else:
                    waits.append(f"{wait.job}, no run since {wait.since:%Y-%m-%d}")
            return f"{head} (not started: waiting for {'; '.join(waits)})"
    if state.last_finished_at and parse_time(state.last_finished_at) >= cycle.began:
        finished = parse_time(state.last_finished_at)
        return f"{head} ({state.last_status or 'FAILED'} {clock_text(finished, tz)})"
    last = state.last_finished_at
    if last:
        return f"{head} (no run since {parse_time(last).astimezone(zone(tz)):%Y-%m-%d})"
    return f"{head} (no run yet)"


def late_text(job: Job, due: datetime, finished: datetime, run_id: str | None) -> str:
    """The follow-up: `entity-builder finished at 07:12, 12 min after its 07:00 deadline`."""
    tz = job.timezone
    late = span_text((finished - due).total_seconds())
    run = f" ({run_id})" if run_id else ""
    return (
        f"{job.name} finished at {clock_text(finished, tz)}, {late} after its "
        f"{clock_text(due, tz)} deadline{run}"
    )


class DeadlineChecks:
    """The per-tick deadline check (one of the dispatcher's tick checks)."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: RunStore,
        notify: Notify | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.notify = notify
        self.clock = clock

    def __call__(self, start: datetime, end: datetime) -> DeadlineResult:
        return self.check(start, end)

    def check(self, start: datetime, end: datetime) -> DeadlineResult:
        """Alert every cycle due in (start, end] that has not SUCCEEDED, once each."""
        result = DeadlineResult()
        due: list[tuple[Job, DeadlineCycle]] = []
        for job in with_deadlines(self.catalogue):
            try:
                due.extend((job, cycle) for cycle in due_between(job, self.catalogue, start, end))
            except Exception:  # one job's rule never stops the others
                result.failed += 1
                logger.exception("deadline not computed", job=job.name)
        result.due = len(due)
        if not due:
            return result
        states = self.store.job_states(upstream_names(job for job, _ in due))
        for job, cycle in due:
            try:
                self._one(job, cycle, states, result)
            except Exception:
                result.failed += 1
                logger.exception("deadline not checked", job=job.name, cycle=cycle.key)
        logger.info(
            "deadlines checked",
            extra={"deadlines": {"due": result.due, "met": result.met, "alerted": result.alerted}},
        )
        return result

    def _one(
        self, job: Job, cycle: DeadlineCycle, states: dict[str, JobState], result: DeadlineResult
    ) -> None:
        state = states.get(job.name) or JobState(job=job.name)
        success = parse_time(state.last_success_at) if state.last_success_at else None
        if success is not None and cycle.began <= success <= cycle.due:
            result.met += 1
            return
        late = success is not None and success > cycle.due
        active = None
        if not late and state.active_run_id:
            active = self.store.get_run(job.name, state.active_run_id)
        text = missed_text(job, cycle, state, active, states)
        fields = {"due_at": iso(cycle.due), "began_at": iso(cycle.began), "text": text}
        if not checks.mark(self.store, job.name, KIND, cycle.key, fields):
            return  # another tick alerted this cycle
        count("DeadlinesMissed")
        if late and success is not None:
            # Caught up after the run finished late: one alert says both.
            checks.follow_up(self.store, job.name, KIND, cycle.key, {"finished_at": iso(success)})
            text = late_text(job, cycle.due, success, state.last_run_id)
        else:
            self.store.update_job_state(job.name, {"deadline_missed": iso(cycle.due)})
        result.alerted.append(f"{job.name}@{cycle.key}")
        self._send(job, text)

    def _send(self, job: Job, text: str) -> None:
        logger.info("deadline alert", job=job.name, text=text)
        if self.notify is None:
            return
        try:
            self.notify(job, text)
        except Exception:  # recorded as fired; a Slack failure is logged, not retried
            logger.exception("deadline alert not delivered", job=job.name)


def follow_up_late(store: RunStore, job: Job, run: Run, notify: Notify | None) -> list[str]:
    """A run of `job` SUCCEEDED: follow up each open missed deadline of a cycle it ends (those
    that began no later than it), once each. Returns the texts sent."""
    if job.deadline is None and job.deadline_minutes is None:
        return []
    finished = parse_time(run.stopped_at or iso(utcnow()) or "")
    sent: list[str] = []
    for item in checks.open_checks(store, job.name, KIND):
        began = item.get("began_at")
        due = item.get("due_at")
        if not due or (began and parse_time(began) > finished):
            continue
        if not checks.follow_up(
            store,
            job.name,
            KIND,
            item["cycle"],
            {"finished_at": iso(finished), "run_id": run.run_id},
        ):
            continue
        text = late_text(job, parse_time(due), finished, run.run_id)
        logger.info("deadline follow-up", job=job.name, text=text)
        sent.append(text)
        store.update_job_state(job.name, {"deadline_missed": None})
        if notify is not None:
            try:
                notify(job, text)
            except Exception:
                logger.exception("deadline follow-up not delivered", job=job.name)
    return sent


def missed_now(store: RunStore, jobs: Sequence[Job]) -> dict[str, str]:
    """Job -> the due time (ISO) of its deadline missed and not met yet, for `jobs`/`status`:
    one batched state read (the page reads the same field from the states it has)."""
    names = [job.name for job in jobs if job.deadline is not None or job.deadline_minutes]
    if not names:
        return {}
    states = store.job_states(names)
    return {name: state.deadline_missed for name, state in states.items() if state.deadline_missed}
