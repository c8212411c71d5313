"""Cron slot maths: pure, time-zone aware, DST-correct.

Slots are computed with cronsim, which follows Debian cron for fixed-time jobs: a slot that
falls in the hour skipped on spring-forward runs once at the transition, and a slot in the
hour repeated on fall-back runs once (on its first occurrence).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used."""


def normalise(expr: str) -> str:
    """Return the 5-field form of `expr` (aliases expanded), or raise ScheduleError."""
    text = " ".join(expr.split())
    text = ALIASES.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    try:
        # Walking one step validates every field and catches impossible dates (e.g. 30 Feb).
        next(CronSim(text, datetime(2000, 1, 1)))
    except CronSimError as exc:
        raise ScheduleError(str(exc)) from None
    except StopIteration:
        raise ScheduleError("the expression never matches a date") from None
    return text


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or ScheduleError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r} (use an IANA name like Europe/London)"
        ) from None


def _iter_slots(expr: str, tz: str, after: datetime) -> Iterator[datetime]:
    """Slot instants (UTC, strictly increasing) strictly after `after`."""
    start = after.astimezone(zone(tz))
    last = after
    for local in CronSim(expr, start):
        slot = local.astimezone(UTC)
        # Starting inside a repeated hour can re-yield an instant already passed.
        if slot > last:
            last = slot
            yield slot


def slots_between(expr: str, tz: str, after: datetime, until: datetime) -> list[datetime]:
    """All slots in (after, until], as UTC datetimes, oldest first."""
    _require_aware(after, until)
    found: list[datetime] = []
    for slot in _iter_slots(expr, tz, after):
        if slot > until:
            break
        found.append(slot)
    return found


def next_slot(expr: str, tz: str, after: datetime) -> datetime | None:
    """The first slot strictly after `after` (UTC), or None if there is none."""
    _require_aware(after)
    return next(_iter_slots(expr, tz, after), None)


def slot_name(slot: datetime) -> str:
    """The UTC `yyyymmddTHHMMSS` form used in run names."""
    return slot.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def _require_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None:
            raise ValueError("slot maths needs time-zone-aware datetimes")
