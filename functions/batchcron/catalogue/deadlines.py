"""Deadlines: by when a job's cycle must have SUCCEEDED. Pure: no AWS, no clock.

`deadline: "07:00"` is a time of day in the job's time zone: a cycle is due at the first 07:00
after it began, and only the latest cycle before each 07:00 is held to it (an hourly job's
06:00 run, not its 01:00 one). `deadline_minutes: 90` is due 90 minutes (elapsed, whatever the
clocks do) after each cycle began. A scheduled job's cycle begins at its slot. An `after:`
job's cycles begin at its upstream jobs' slots (followed through upstreams that are `after:`
jobs themselves): with `deadline_minutes`, an upstream slot followed by another upstream job's
slot before the deadline belongs to the later one's cycle (the cycle waits for both).

Wall-clock deadlines across DST: a time that does not exist that day (the spring gap) is read
as the same time on the clock before the change, i.e. one hour later than it would have been;
a time that happens twice (autumn) is its first occurrence. So every day has exactly one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from batchcron.catalogue.model import Catalogue, Job
from batchcron.catalogue.schedule import next_slot, slots_between, zone

MAX_CYCLES_PER_WINDOW = 5  # after an outage, the latest cycles per job are checked, no more
EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class DeadlineCycle:
    """One cycle of a job held to its deadline."""

    job: str
    began: datetime  # the slot, or the cycle's latest upstream slot (UTC)
    due: datetime  # when it must have SUCCEEDED (UTC)
    upstream: bool = False  # an `after:` job's cycle

    @property
    def key(self) -> str:
        """The cycle's name in the run store (its start, UTC, to the second)."""
        return self.began.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def has_deadline(job: Job) -> bool:
    return job.enabled and (job.deadline is not None or job.deadline_minutes is not None)


def with_deadlines(catalogue: Catalogue) -> list[Job]:
    return [job for job in catalogue.jobs.values() if has_deadline(job)]


def anchors(job: Job, catalogue: Catalogue) -> list[tuple[str, str, str]]:
    """(job, schedule, time zone) whose slots begin `job`'s cycles: its own schedule, else its
    upstream jobs' (through `after:` chains; a cycle in `after:` is refused by the catalogue)."""
    if job.schedule:
        return [(job.name, job.schedule, job.timezone)]
    found: dict[str, tuple[str, str, str]] = {}
    todo = list(job.after.jobs) if job.after else []
    seen: set[str] = {job.name}
    while todo:
        name = todo.pop(0)
        if name in seen or name not in catalogue.jobs:
            continue
        seen.add(name)
        upstream = catalogue.jobs[name]
        if upstream.schedule:
            found[name] = (name, upstream.schedule, upstream.timezone)
        elif upstream.after:
            todo.extend(upstream.after.jobs)
    return list(found.values())


def wall_deadline(day: datetime, hhmm: str, tz: str) -> datetime:
    """`hhmm` on the local date of `day` in `tz`, as UTC (DST rules in the module docstring)."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    local = datetime.combine(day.date(), time(hours, minutes), tzinfo=zone(tz))
    return local.astimezone(UTC)


def wall_deadlines(hhmm: str, tz: str, after: datetime, until: datetime) -> Iterator[datetime]:
    """Every `hhmm` in `tz` in (after, until], oldest first."""
    day = after.astimezone(zone(tz)) - timedelta(days=1)
    while True:
        moment = wall_deadline(day, hhmm, tz)
        if moment > until:
            return
        if moment > after:
            yield moment
        day += timedelta(days=1)


def _slots(
    anchor: list[tuple[str, str, str]], after: datetime, until: datetime
) -> list[tuple[datetime, str]]:
    merged = [
        (slot, name)
        for name, schedule, tz in anchor
        for slot in slots_between(schedule, tz, after, until)
    ]
    return sorted(merged)


def due_between(
    job: Job,
    catalogue: Catalogue,
    after: datetime,
    until: datetime,
    limit: int = MAX_CYCLES_PER_WINDOW,
) -> list[DeadlineCycle]:
    """The cycles of `job` whose deadline falls in (after, until], oldest first (the latest
    `limit` of them)."""
    if not has_deadline(job) or until <= after:
        return []
    anchor = anchors(job, catalogue)
    if not anchor:
        return []  # push-only: no slots to hold to a deadline
    upstream = not job.schedule
    found: list[DeadlineCycle] = []
    if job.deadline is not None:
        for due in wall_deadlines(job.deadline, job.timezone, after, until):
            previous = wall_deadline(
                due.astimezone(zone(job.timezone)) - timedelta(days=1), job.deadline, job.timezone
            )
            slots = _slots(anchor, previous - EPSILON, due - EPSILON)
            if slots:
                found.append(DeadlineCycle(job.name, slots[-1][0], due, upstream))
    else:
        length = timedelta(minutes=job.deadline_minutes or 0)
        for slot, name in _slots(anchor, after - length, until - length):
            if upstream and _joined_by_another(anchor, name, slot, slot + length):
                continue
            found.append(DeadlineCycle(job.name, slot, slot + length, upstream))
    return found[-limit:]


def _joined_by_another(
    anchor: list[tuple[str, str, str]], name: str, slot: datetime, due: datetime
) -> bool:
    """Whether another upstream job has a slot after `slot` and before `due` (so the cycle
    begins with that one)."""
    for other, schedule, tz in anchor:
        if other == name:
            continue
        following = next_slot(schedule, tz, slot)
        if following is not None and following < due:
            return True
    return False


def cycle_of(job: Job, catalogue: Catalogue, at: datetime) -> DeadlineCycle | None:
    """The latest cycle of `job` due at or before `at` (for the CLI and the page)."""
    window = timedelta(days=32)
    cycles = due_between(job, catalogue, at - window, at, limit=1)
    return cycles[-1] if cycles else None
