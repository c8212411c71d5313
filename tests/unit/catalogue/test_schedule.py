"""Slot maths: cron in a job's own time zone, DST-correct."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchcron.catalogue.schedule import (
    ScheduleError,
    next_slot,
    normalise,
    slot_name,
    slots_between,
)

ZONES = ["Europe/London", "America/New_York"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_aliases_expand_to_five_fields() -> None:
    assert normalise("@daily") == "0 0 * * *"
    assert normalise("@weekly") == "0 0 * * 0"
    assert normalise("@monthly") == "0 0 1 * *"
    assert normalise("  0   1 * *  * ") == "0 1 * * *"


@pytest.mark.parametrize(
    "expr", ["", "* * * *", "61 * * * *", "0 25 * * *", "0 0 30 2 *", "@fortnightly", "a b c d e"]
)
def test_invalid_expressions_are_refused(expr: str) -> None:
    with pytest.raises(ScheduleError):
        normalise(expr)


def test_slots_are_in_the_jobs_time_zone() -> None:
    # 01:00 in London during BST is 00:00 UTC
    slots = slots_between("0 1 * * *", "Europe/London", utc(2026, 6, 30, 12), utc(2026, 7, 2, 12))
    assert slots == [utc(2026, 7, 1, 0), utc(2026, 7, 2, 0)]


def test_window_is_open_at_the_start_and_closed_at_the_end() -> None:
    slots = slots_between("0 * * * *", "UTC", utc(2026, 1, 1, 0), utc(2026, 1, 1, 2))
    assert slots == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)]


def test_skipped_hour_slot_runs_once_at_the_transition() -> None:
    # London springs forward at 01:00 UTC on 2026-03-29: 01:30 local does not exist.
    slots = slots_between("30 1 * * *", "Europe/London", utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert slots == [utc(2026, 3, 29, 1, 0)]  # 02:00 BST, the first real minute after 01:30


def test_repeated_hour_slot_runs_once() -> None:
    # New York falls back at 06:00 UTC on 2026-11-01: 01:30 local happens twice.
    slots = slots_between(
        "30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), utc(2026, 11, 1, 12)
    )
    assert slots == [utc(2026, 11, 1, 5, 30)]  # first occurrence (EDT)


def test_next_slot_and_name() -> None:
    slot = next_slot("0 4 * * *", "UTC", utc(2026, 11, 28, 4))
    assert slot == utc(2026, 11, 29, 4)
    assert slot_name(slot) == "20261129T040000"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        slots_between("0 * * * *", "UTC", datetime(2026, 1, 1), utc(2026, 1, 2))


days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=150, deadline=None)
@given(day=days, zone=st.sampled_from(ZONES), hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_daily_job_runs_exactly_once_per_local_day(
    day: date, zone: str, hour: int, minute: int
) -> None:
    # Given a daily job at HH:MM local time, over three local days around any date
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    end = start + timedelta(days=3)
    slots = slots_between(f"{minute} {hour} * * *", zone, start, end)
    # Then every local calendar day in the window has exactly one slot
    from zoneinfo import ZoneInfo

    local_days = [slot.astimezone(ZoneInfo(zone)).date() for slot in slots]
    assert len(local_days) == len(set(local_days))
    full_days = {(start + timedelta(days=i)).date() for i in range(1, 3)}
    for full in full_days:
        inner = datetime(full.year, full.month, full.day, tzinfo=ZoneInfo(zone))
        if start < inner and inner + timedelta(days=1, hours=2) < end:
            assert full in local_days


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
    cuts=st.lists(st.integers(1, 36 * 60), min_size=1, max_size=6),
    expr=st.sampled_from(["0 1 * * *", "30 1 * * *", "0 2 * * *", "*/20 * * * *", "15 * * * *"]),
)
def test_splitting_a_window_never_drops_or_repeats_a_slot(
    zone: str, start: datetime, cuts: list[int], expr: str
) -> None:
    # Ticks at arbitrary points (the watermark moving on) see each slot exactly once.
    begin = start.replace(tzinfo=UTC)
    points = [begin] + [begin + timedelta(minutes=sum(cuts[: i + 1])) for i in range(len(cuts))]
    whole = slots_between(expr, zone, points[0], points[-1])
    pieces = [s for a, b in pairwise(points) for s in slots_between(expr, zone, a, b)]
    assert pieces == whole
    assert whole == sorted(set(whole))
