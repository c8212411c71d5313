"""Job dependencies (`after:`): when a downstream job's cycle is complete. Pure: no AWS.

A cycle opens when the downstream job's previous `upstream` run was started (the first cycle:
24 hours ago). It is complete once every upstream job has a run that reached a terminal status
after that moment — with `when: succeeded`, the upstream's latest such run must have succeeded
(a failure keeps the cycle open until a later run of that job succeeds). Runs of any trigger
count, foreign runs included: all of them are counted in the upstream job's state. A cancelled
run does not count at all: it neither completes a cycle nor blocks one.

Finish times are Batch's clock; the cycle's start is the function's. So that the two may
disagree by up to SKEW either way, an upstream run counts for exactly one cycle by identity, not
by time alone: the cycle that starts records the runs it consumed (and their finish times), and
the next cycle takes neither one of them nor a run that finished before one of them; a run that
finished up to SKEW before the cycle's start (by the two clocks) still counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from batchcron.catalogue.model import After, Catalogue, Job
from batchcron.models import JobState, Status, iso, parse_time

FIRST_CYCLE = timedelta(hours=24)
SKEW = timedelta(minutes=5)  # between Batch's timestamps and the function's clock, either way


@dataclass(frozen=True)
class Finished:
    """One terminal run of an upstream job."""

    run_id: str
    status: Status | str
    finished_at: datetime

    @property
    def succeeded(self) -> bool:
        return self.status == Status.SUCCEEDED


@dataclass(frozen=True)
class Wait:
    """An upstream job that has not completed the cycle, and its latest terminal run (`fresh`:
    that run is one the open cycle may take, a failure under `when: succeeded`)."""

    job: str
    latest: Finished | None
    since: datetime
    fresh: bool = False

    @property
    def failed(self) -> bool:
        """Held up by a run of this cycle that did not succeed (not merely not run yet)."""
        return self.fresh and self.latest is not None and not self.latest.succeeded

    def short(self) -> str:
        """`conservation-area FAILED 01:42`, `parish no run since 2026-11-28 02:00` (UTC)."""
        return self.describe().replace(": ", " ", 1)

    def describe(self) -> str:
        """`conservation-area: FAILED 01:42`, `parish: no run since 2026-11-28 02:00` (UTC)."""
        latest = self.latest
        if latest is None or not self.fresh:
            return f"{self.job}: no run since {self.since:%Y-%m-%d %H:%M}"
        return f"{self.job}: {Status(latest.status).value} {latest.finished_at:%H:%M}"


@dataclass(frozen=True)
class Consumed:
    """What the previous cycle took from its upstream jobs (from the downstream job's state)."""

    runs: frozenset[str] = frozenset()
    finished: Mapping[str, datetime] = field(default_factory=dict)  # upstream job -> finish

    def allows(self, job: str, run: Finished) -> bool:
        """Not a run the previous cycle took, nor one that finished before the run it took from
        `job` (a stale read of that job's state)."""
        floor = self.finished.get(job)
        return run.run_id not in self.runs and (floor is None or run.finished_at >= floor)


@dataclass(frozen=True)
class Cycle:
    """Where a downstream job's open cycle stands."""

    since: datetime
    complete: bool
    runs: tuple[str, ...]  # the upstream runs that completed it (in `after.jobs` order)
    waiting: tuple[Wait, ...]
    taken: Mapping[str, Finished] = field(default_factory=dict)  # upstream job -> its run

    def finished(self) -> dict[str, str]:
        """Upstream job -> the finish time of the run the cycle took (what the claim records)."""
        return {job: iso(run.finished_at) or "" for job, run in self.taken.items()}


def cycle_start(since: str | datetime | None, now: datetime) -> datetime:
    """When the open cycle began: the previous upstream run's start, else 24 hours ago."""
    if since is None:
        return now - FIRST_CYCLE
    return parse_time(since) if isinstance(since, str) else since


def decide(
    after: After,
    history: Mapping[str, Iterable[Finished]],
    since: datetime,
    consumed: Consumed | None = None,
) -> Cycle:
    """Is the cycle that began at `since` complete, given each upstream job's terminal runs and
    what the previous cycle consumed?"""
    consumed = consumed or Consumed()
    taken: dict[str, Finished] = {}
    waiting: list[Wait] = []
    for upstream in after.jobs:
        finished = list(history.get(upstream, ()))
        latest = max(finished, key=lambda run: run.finished_at, default=None)
        fresh = (
            latest is not None
            and latest.finished_at >= since - SKEW
            and consumed.allows(upstream, latest)
        )
        done = fresh and (after.when != "succeeded" or (latest is not None and latest.succeeded))
        if done and latest is not None:
            taken[upstream] = latest
        else:
            waiting.append(Wait(upstream, latest, since, fresh=fresh))
    return Cycle(
        since=since,
        complete=not waiting,
        runs=tuple(run.run_id for run in taken.values()),
        waiting=tuple(waiting),
        taken=taken,
    )


def consumed_by_previous(state: JobState | None) -> Consumed:
    """What the downstream job's previous cycle took, from its state."""
    if state is None:
        return Consumed()
    finished = {job: parse_time(at) for job, at in state.upstream_finished.items() if at}
    return Consumed(runs=frozenset(state.upstream_runs), finished=finished)


def latest_finished(state: JobState | None) -> list[Finished]:
    """The upstream job's latest counted terminal run that is not a cancel, from its job state
    (the only one the rule needs: outcomes are counted in order of their finish times). A
    cancelled run does not count: it neither completes nor blocks a cycle."""
    if state is None:
        return []
    if state.last_outcome_run_id and state.last_outcome_at:
        status = state.last_outcome_status or Status.FAILED
        return [Finished(state.last_outcome_run_id, status, parse_time(state.last_outcome_at))]
    # A state counted before `last_outcome_*` existed: its last outcome, unless a cancel.
    if not state.last_counted_run_id or not state.last_finished_at:
        return []
    if state.last_status == Status.CANCELLED:
        return []
    status = state.last_status or Status.FAILED
    return [Finished(state.last_counted_run_id, status, parse_time(state.last_finished_at))]


def decide_from_states(job: Job, states: Mapping[str, JobState], now: datetime) -> Cycle:
    """`decide` for `job` on the job states of the job and its upstreams."""
    assert job.after is not None
    own = states.get(job.name)
    since = cycle_start(own.upstream_since if own else None, now)
    history = {name: latest_finished(states.get(name)) for name in job.after.jobs}
    return decide(job.after, history, since, consumed_by_previous(own))


def with_after(catalogue: Catalogue) -> list[Job]:
    """Enabled jobs with `after:`."""
    return [job for job in catalogue.jobs.values() if job.enabled and job.after is not None]


def downstream_of(catalogue: Catalogue, name: str) -> list[Job]:
    """Enabled jobs that run after `name`."""
    return [job for job in with_after(catalogue) if job.after and name in job.after.jobs]


def blocked_by_failure(catalogue: Catalogue, name: str) -> list[str]:
    """The jobs a failed run of `name` holds up (those waiting for it to succeed)."""
    return [
        job.name
        for job in downstream_of(catalogue, name)
        if job.after is not None and job.after.when == "succeeded"
    ]


def upstream_names(jobs: Iterable[Job]) -> list[str]:
    """The jobs and every upstream they name, once each (for one batched state read)."""
    names: dict[str, None] = {}
    for job in jobs:
        names[job.name] = None
        for upstream in job.after.jobs if job.after else ():
            names[upstream] = None
    return list(names)


def waiting(job: Job, states: Mapping[str, JobState], now: datetime) -> tuple[Wait, ...]:
    """What holds an enabled `after:` job up, as the state "waiting" shows it: an upstream run
    of the open cycle that failed (then only those), or, for a job that never ran, every upstream
    the open cycle still waits for. Empty when the job is not waiting."""
    if job.after is None or not job.enabled:
        return ()
    own = states.get(job.name)
    if own is not None and own.active_run_id:
        return ()
    cycle = decide_from_states(job, states, now)
    if cycle.complete:
        return ()
    failed = tuple(wait for wait in cycle.waiting if wait.failed)
    if failed:
        return failed
    never_ran = own is None or not (own.last_run_id or own.upstream_run_id)
    return cycle.waiting if never_ran else ()


def waiting_text(waits: Iterable[Wait]) -> str:
    """The status of a waiting job: `waiting: conservation-area FAILED 01:42`, or for upstreams
    with no run in the cycle yet just their names (`waiting: parish, green-belt`)."""
    waits = list(waits)
    failed = [wait.short() for wait in waits if wait.failed]
    others = [wait.job for wait in waits if not wait.failed]
    return "waiting: " + "; ".join([*failed, *([", ".join(others)] if others else [])])


# --- the watchdog (`after.max_wait`) ---------------------------------------------------------

FIRST = "first"  # the cycle key of a job that never started after its upstreams


def cycle_key(state: JobState | None) -> str:
    """Which cycle a wait belongs to: its start (ISO 8601), or `first`."""
    return (state.upstream_since if state else None) or FIRST


@dataclass(frozen=True)
class Overdue:
    """A downstream job that has waited longer than its `after.max_wait` since the first of
    its open cycle's upstream runs finished (`waits` empty: the cycle is complete, yet the job
    has not started)."""

    job: str
    cycle: str
    since: datetime
    waits: tuple[Wait, ...]
    ran: tuple[str, ...]  # upstream jobs whose run the open cycle has taken

    def waited(self, now: datetime) -> str:
        """`6 h`, `45 min`."""
        minutes = max(int((now - self.since).total_seconds() // 60), 0)
        return f"{minutes // 60} h" if minutes >= 60 else f"{minutes} min"

    def text(self, now: datetime, others: Iterable[str] = ()) -> str:
        """`entity-builder has waited 6 h for conservation-area: FAILED 01:42;
        digital-land-builder also waits on it`."""
        if not self.waits:
            ran = ", ".join(self.ran)
            return f"{self.job} has not started for {self.waited(now)} though {ran} ran"
        found = f"{self.job} has waited {self.waited(now)} for " + ", ".join(
            wait.describe() for wait in self.waits
        )
        also = sorted(others)
        if also:
            verb = "waits" if len(also) == 1 else "wait"
            found += (
                f"; {', '.join(also)} also {verb} on {'it' if len(self.waits) == 1 else 'them'}"
            )
        return found


def overdue_wait(job: Job, states: Mapping[str, JobState], now: datetime) -> Overdue | None:
    """`job`'s wait when it is overdue (O(its upstreams), on the states one batched read
    gives), else None: no `after:`, `max_wait: none`, paused (the operator's own wait), or no
    upstream run of the open cycle has finished yet or it finished less than max_wait ago."""
    if job.after is None or job.after.max_wait_minutes is None:
        return None
    own = states.get(job.name)
    if own is not None and own.paused:
        return None
    limit = timedelta(minutes=job.after.max_wait_minutes)
    # A job that never started has no cycle start: look back max_wait beyond its first cycle,
    # so an upstream run that finished longer ago than that still starts the clock.
    since = (
        cycle_start(own.upstream_since, now)
        if own is not None and own.upstream_since
        else now - FIRST_CYCLE - limit
    )
    history = {name: latest_finished(states.get(name)) for name in job.after.jobs}
    cycle = decide(job.after, history, since, consumed_by_previous(own))
    finishes = [run.finished_at for run in cycle.taken.values()]
    finishes += [w.latest.finished_at for w in cycle.waiting if w.fresh and w.latest is not None]
    if not finishes:
        return None
    first = min(finishes)
    if now - first < limit:
        return None
    return Overdue(job.name, cycle_key(own), first, cycle.waiting, tuple(cycle.taken))


def also_waiting(
    catalogue: Catalogue, overdue: Overdue, states: Mapping[str, JobState], now: datetime
) -> list[str]:
    """The other enabled `after:` jobs whose open cycle waits on one of the same upstreams."""
    names = {wait.job for wait in overdue.waits}
    if not names:
        return []
    found = []
    for other in with_after(catalogue):
        if other.name == overdue.job or other.after is None or not names & set(other.after.jobs):
            continue
        cycle = decide_from_states(other, states, now)
        if names & {wait.job for wait in cycle.waiting}:
            found.append(other.name)
    return found
