"""The deadline rule: which cycle, when it is due, time zones and DST, after: cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchcron.catalogue.deadlines import cycle_of, due_between, wall_deadline
from batchcron.catalogue.errors import CatalogueError
from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import Catalogue

BASE = """
jobs:
  lad:
    repository: digital-land/local-authority-district-collection
    schedule: "0 0 * * *"
  ca:
    repository: digital-land/conservation-area-collection
    schedule: "0 1 * * *"
"""


def catalogue(extra: str) -> Catalogue:
    return parse_catalogue(BASE + extra)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_time_of_day_deadline_for_a_daily_job() -> None:
    jobs = catalogue(
        '  nightly:\n    repository: a/nightly\n    schedule: "0 1 * * *"\n    deadline: "07:00"\n'
    )
    cycles = due_between(jobs.jobs["nightly"], jobs, utc(2026, 12, 1), utc(2026, 12, 3))

    assert [(c.began, c.due) for c in cycles] == [
        (utc(2026, 12, 1, 1), utc(2026, 12, 1, 7)),
        (utc(2026, 12, 2, 1), utc(2026, 12, 2, 7)),
    ]
    assert cycles[0].key == "20261201T010000Z"


def test_an_hourly_job_is_held_to_its_latest_slot_before_the_deadline() -> None:
    jobs = catalogue(
        '  hourly:\n    repository: a/hourly\n    schedule: "0 * * * *"\n    deadline: "07:00"\n'
    )
    cycles = due_between(jobs.jobs["hourly"], jobs, utc(2026, 12, 1, 6, 59), utc(2026, 12, 1, 7))

    assert [(c.began, c.due) for c in cycles] == [(utc(2026, 12, 1, 6), utc(2026, 12, 1, 7))]


def test_a_late_evening_slot_is_due_the_next_morning() -> None:
    jobs = catalogue(
        '  late:\n    repository: a/late\n    schedule: "0 23 * * *"\n    deadline: "07:00"\n'
    )
    cycles = due_between(jobs.jobs["late"], jobs, utc(2026, 12, 1, 8), utc(2026, 12, 2, 8))

    assert [(c.began, c.due) for c in cycles] == [(utc(2026, 12, 1, 23), utc(2026, 12, 2, 7))]


def test_minutes_after_each_slot() -> None:
    jobs = catalogue(
        '  hourly:\n    repository: a/hourly\n    schedule: "0 * * * *"\n    deadline_minutes: 90\n'
    )
    cycles = due_between(jobs.jobs["hourly"], jobs, utc(2026, 12, 1, 2), utc(2026, 12, 1, 4))

    assert [c.due for c in cycles] == [utc(2026, 12, 1, 2, 30), utc(2026, 12, 1, 3, 30)]


def test_london_deadline_follows_summer_time() -> None:
    jobs = catalogue(
        '  uk:\n    repository: a/uk\n    schedule: "0 1 * * *"\n'
        '    timezone: Europe/London\n    deadline: "07:00"\n'
    )
    job = jobs.jobs["uk"]
    # Sunday 29 March 2026 the clocks go forward at 01:00 GMT: 07:00 BST is 06:00 UTC.
    march = due_between(job, jobs, utc(2026, 3, 28), utc(2026, 3, 30))
    assert [c.due for c in march] == [utc(2026, 3, 28, 7), utc(2026, 3, 29, 6)]
    # 01:00 London on the 29th does not exist (clocks jump 01:00 -> 02:00): cronsim skips or
    # moves the slot; whichever, the cycle is the latest slot before 06:00 UTC.
    assert march[-1].began <= utc(2026, 3, 29, 6)
    # Sunday 25 October 2026 the clocks go back at 02:00 BST: 07:00 GMT is 07:00 UTC.
    october = due_between(job, jobs, utc(2026, 10, 24), utc(2026, 10, 26))
    assert [c.due for c in october] == [utc(2026, 10, 24, 6), utc(2026, 10, 25, 7)]


def test_a_deadline_in_the_spring_gap_or_the_autumn_repeat() -> None:
    # 01:30 on 29 March 2026 does not exist in London: read on the clock before the change
    # (01:30 GMT = 01:30 UTC). On 25 October it happens twice: the first (01:30 BST = 00:30 UTC).
    assert wall_deadline(utc(2026, 3, 29, 12), "01:30", "Europe/London") == utc(2026, 3, 29, 1, 30)
    assert wall_deadline(utc(2026, 10, 25, 12), "01:30", "Europe/London") == utc(
        2026, 10, 25, 0, 30
    )


def test_minutes_are_elapsed_time_across_a_dst_change() -> None:
    jobs = catalogue(
        '  uk:\n    repository: a/uk\n    schedule: "30 0 * * *"\n'
        "    timezone: Europe/London\n    deadline_minutes: 120\n"
    )
    cycles = due_between(jobs.jobs["uk"], jobs, utc(2026, 3, 29), utc(2026, 3, 29, 6))

    assert [(c.began, c.due) for c in cycles] == [
        (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 2, 30))
    ]


def test_after_jobs_count_from_their_cycle_s_upstream_slots() -> None:
    jobs = catalogue(
        "  builder:\n    repository: a/builder\n    after:\n      jobs: [lad, ca]\n"
        "    deadline_minutes: 90\n"
        "  tiles:\n    repository: a/tiles\n    after:\n      jobs: [builder]\n"
        '    deadline: "07:00"\n'
    )
    # lad at 00:00 is joined by ca at 01:00 within 90 min: the cycle begins at 01:00.
    builder = due_between(jobs.jobs["builder"], jobs, utc(2026, 12, 1), utc(2026, 12, 2))
    assert [(c.began, c.due, c.upstream) for c in builder] == [
        (utc(2026, 12, 1, 1), utc(2026, 12, 1, 2, 30), True)
    ]
    # tiles runs after builder, which runs after lad and ca: their latest slot before 07:00.
    tiles = due_between(jobs.jobs["tiles"], jobs, utc(2026, 12, 1), utc(2026, 12, 1, 8))
    assert [(c.began, c.due) for c in tiles] == [(utc(2026, 12, 1, 1), utc(2026, 12, 1, 7))]


def test_missed_ticks_catch_up_the_latest_cycles_only() -> None:
    jobs = catalogue(
        '  nightly:\n    repository: a/nightly\n    schedule: "0 1 * * *"\n    deadline: "07:00"\n'
    )
    cycles = due_between(jobs.jobs["nightly"], jobs, utc(2026, 11, 1), utc(2026, 12, 1))

    assert len(cycles) == 5
    assert cycles[-1].due == utc(2026, 11, 30, 7)
    assert cycle_of(jobs.jobs["nightly"], jobs, utc(2026, 12, 1, 6)) == cycles[-1]


@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    cut=st.integers(1, 71),
    tz=st.sampled_from(["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe"]),
)
def test_windows_split_anywhere_find_each_cycle_once(start: datetime, cut: int, tz: str) -> None:
    # Ticks at any moments (missed or not) see every deadline exactly once between them.
    jobs = catalogue(
        f'  jj:\n    repository: a/j\n    schedule: "15 */3 * * *"\n    timezone: {tz}\n'
        '    deadline: "07:30"\n'
    )
    job = jobs.jobs["jj"]
    end = start + timedelta(hours=72)
    middle = start + timedelta(hours=cut)
    whole = due_between(job, jobs, start, end, limit=100)
    parts = due_between(job, jobs, start, middle, limit=100) + due_between(
        job, jobs, middle, end, limit=100
    )
    assert whole == parts
    assert len({c.due.astimezone(UTC).date() for c in whole}) == len(whole)
    for cycle in whole:
        assert cycle.began < cycle.due <= cycle.began + timedelta(hours=25)


@pytest.mark.parametrize(
    ("fields", "wanted"),
    [
        ('    deadline: "7:00"\n', "deadline"),
        ('    deadline: "24:00"\n', "deadline"),
        ('    deadline: "07:00"\n    deadline_minutes: 90\n', "deadline"),
        ("    deadline_minutes: 0\n", "deadline_minutes"),
        ("    pause_after_failures: 0\n", "pause_after_failures"),
    ],
)
def test_bad_deadline_fields(fields: str, wanted: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        catalogue('  jj:\n    repository: a/j\n    schedule: "0 1 * * *"\n' + fields)
    assert any(problem.field == wanted for problem in caught.value.problems)
