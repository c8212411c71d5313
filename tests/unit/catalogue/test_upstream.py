"""The cycle rule of `after:` jobs: upstream histories -> start or wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import After
from batchcron.catalogue.upstream import (
    SKEW,
    Consumed,
    Finished,
    blocked_by_failure,
    consumed_by_previous,
    cycle_start,
    decide,
    decide_from_states,
    downstream_of,
    latest_finished,
    upstream_names,
    with_after,
)
from batchcron.models import JobState

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
PREVIOUS = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # the previous upstream run's start


def at(hhmm: str, day: int = 29) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2026, 11, day, int(hours), int(minutes), tzinfo=UTC)


def ok(run: str, hhmm: str, day: int = 29) -> Finished:
    return Finished(run, "SUCCEEDED", at(hhmm, day))


def bad(run: str, hhmm: str, day: int = 29) -> Finished:
    return Finished(run, "FAILED", at(hhmm, day))


# (when, since, {upstream: history}) -> started with these runs, or None (waits)
CASES = [
    pytest.param(
        "succeeded",
        PREVIOUS,
        {"a": [ok("a1", "00:40")], "b": [ok("b1", "01:30")]},
        ("a1", "b1"),
        id="both-succeeded-since-the-last-cycle",
    ),
    pytest.param(
        "succeeded",
        PREVIOUS,
        {"a": [ok("a1", "00:40")], "b": []},
        None,
        id="one-upstream-never-ran",
    ),
    pytest.param(
        "succeeded",
        PREVIOUS,
        {"a": [ok("a1", "00:40")], "b": [ok("b0", "01:00", day=28)]},
        None,
        id="one-upstream-ran-only-before-the-cycle",
    ),
    pytest.param(
        "succeeded",
        PREVIOUS,
        {"a": [ok("a1", "00:40")], "b": [bad("b1", "01:42")]},
        None,
        id="failed-upstream-keeps-the-cycle-open",
    ),
    pytest.param(
        "finished",
        PREVIOUS,
        {"a": [ok("a1", "00:40")], "b": [bad("b1", "01:42")]},
        ("a1", "b1"),
        id="when-finished-a-failure-counts",
    ),
    pytest.param(
        "succeeded",
        PREVIOUS,
        {"a": [ok("a1", "00:40")], "b": [bad("b1", "01:42"), ok("b2", "03:10")]},
        ("a1", "b2"),
        id="failed-then-re-run-by-hand-succeeds",
    ),
    pytest.param(
        "succeeded",
        PREVIOUS,
        {"a": [ok("a1", "00:40")], "b": [ok("b1", "01:00"), bad("b2", "03:10")]},
        None,
        id="succeeded-then-failed-latest-counts",
    ),
    pytest.param(
        "finished",
        PREVIOUS,
        {"a": [ok("a1", "00:40"), ok("a2", "04:00")], "b": [bad("b1", "01:42")]},
        ("a2", "b1"),
        id="latest-run-of-each-upstream-is-recorded",
    ),
    pytest.param(
        "succeeded",
        None,
        {"a": [ok("a1", "07:00", day=28)], "b": [ok("b1", "05:00")]},
        ("a1", "b1"),
        id="first-cycle-within-the-last-24-hours",
    ),
    pytest.param(
        "succeeded",
        None,
        {"a": [ok("a1", "05:00", day=28)], "b": [ok("b1", "05:00")]},
        None,
        id="first-cycle-ignores-runs-older-than-24-hours",
    ),
    pytest.param(
        "succeeded",
        at("01:50"),
        {"a": [ok("a1", "00:40")], "b": [ok("b1", "01:42")]},
        None,
        id="runs-before-the-previous-upstream-start-belong-to-it",
    ),
    pytest.param(
        "finished",
        at("01:50"),
        {"a": [ok("a1", "00:40")], "b": [ok("b1", "01:50")]},
        None,
        id="a-run-finishing-at-the-cycle-start-belongs-to-the-old-cycle",
    ),
]


@pytest.mark.parametrize(("when", "since", "history", "expected"), CASES)
def test_cycle_rule(
    when: str,
    since: datetime | None,
    history: dict[str, list[Finished]],
    expected: tuple[str, ...] | None,
) -> None:
    after = After(jobs=("a", "b"), when=when)  # type: ignore[arg-type]
    cycle = decide(after, history, cycle_start(since, NOW))
    if expected is None:
        assert not cycle.complete
        assert cycle.waiting
    else:
        assert cycle.complete
        assert cycle.runs == expected
        assert cycle.waiting == ()


def test_waiting_says_what_each_upstream_is_waiting_for() -> None:
    after = After(jobs=("local-authority-district", "conservation-area", "parish"))
    cycle = decide(
        after,
        {
            "local-authority-district": [ok("l1", "00:40")],
            "conservation-area": [bad("c1", "01:42")],
            "parish": [ok("p0", "23:00", day=27)],
        },
        PREVIOUS,
    )
    assert [wait.describe() for wait in cycle.waiting] == [
        "conservation-area: FAILED 01:42",
        "parish: no run since 2026-11-28 02:00",
    ]


def test_runs_of_any_trigger_count_through_the_job_state() -> None:
    # A foreign run (submitted by hand) is counted in its job's state like any other.
    catalogue = parse_catalogue(
        "jobs:\n  aa: {repository: acme/a}\n"
        "  dd:\n    repository: acme/d\n    after: {jobs: [aa]}\n"
    )
    states = {
        "aa": JobState(
            job="aa",
            last_counted_run_id="by-hand-12345678",
            last_status="SUCCEEDED",
            last_finished_at="2026-11-29T03:00:00.000Z",
            last_run_id="a-20261129T050000",  # submitted, not finished: does not count
        ),
        "dd": JobState(job="dd", upstream_since="2026-11-29T02:00:00.000Z"),
    }
    cycle = decide_from_states(catalogue.get("dd"), states, NOW)
    assert cycle.complete
    assert cycle.runs == ("by-hand-12345678",)
    states["dd"] = JobState(job="dd", upstream_since="2026-11-29T03:30:00.000Z")
    assert not decide_from_states(catalogue.get("dd"), states, NOW).complete


def test_latest_finished_needs_a_counted_run() -> None:
    assert latest_finished(None) == []
    assert latest_finished(JobState(job="a", last_run_id="a-1")) == []


def test_graph_helpers() -> None:
    catalogue = parse_catalogue(
        """
jobs:
  aa: {repository: acme/a}
  bb: {repository: acme/b}
  cc:
    repository: acme/c
    after: {jobs: [aa, bb]}
  dd:
    repository: acme/d
    after: {jobs: [cc, aa], when: finished}
  ee:
    repository: acme/e
    enabled: false
    after: {jobs: [aa]}
"""
    )
    assert [job.name for job in with_after(catalogue)] == ["cc", "dd"]
    assert [job.name for job in downstream_of(catalogue, "aa")] == ["cc", "dd"]
    assert blocked_by_failure(catalogue, "aa") == ["cc"]
    assert blocked_by_failure(catalogue, "cc") == []
    assert upstream_names(with_after(catalogue)) == ["cc", "aa", "bb", "dd"]


def test_alert_names_the_blocked_jobs_and_upstream_runs_say_what_started_them() -> None:
    from batchcron.models import Alert, Run, Status
    from batchcron.outcomes.alerting import Where, message, texts, trigger_text

    failed = Run(
        job="conservation-area",
        run_id="conservation-area-20261129T010000",
        trigger="schedule",
        status=Status.FAILED,
        created_at="2026-11-29T01:00:00.000Z",
    )
    alert = Alert(kind="failed", failures=1, blocks=["entity-builder", "digital-land-builder"])
    text = texts(message(failed, alert, None, Where("eu-west-2")))
    assert "blocks: entity-builder, digital-land-builder" in text
    assert "blocks:" not in texts(message(failed, Alert(kind="failed"), None, Where("eu-west-2")))

    built = failed.model_copy(
        update={"job": "entity-builder", "trigger": "upstream", "upstream_runs": ["a-1", "b-2"]}
    )
    assert trigger_text(built) == "after `a-1`, `b-2`"


# --- consumed runs and clock skew ---------------------------------------------------------------


def test_a_run_the_previous_cycle_consumed_never_counts_again() -> None:
    # Given the previous cycle (started 02:00) took a1 and b1, which Batch's clock, 5 min
    # ahead, says finished after that start
    after = After(jobs=("a", "b"))
    history = {"a": [ok("a1", "02:04", day=28)], "b": [ok("b1", "02:05", day=28)]}
    consumed = Consumed(frozenset({"a1", "b1"}), {"a": at("02:04", 28), "b": at("02:05", 28)})

    # Then the open cycle waits for new runs of both
    cycle = decide(after, history, PREVIOUS, consumed)
    assert not cycle.complete
    assert [wait.describe() for wait in cycle.waiting] == [
        "a: no run since 2026-11-28 02:00",
        "b: no run since 2026-11-28 02:00",
    ]
    # ...and a new run of each completes it
    history = {"a": [ok("a2", "02:07", day=28)], "b": [ok("b2", "02:08", day=28)]}
    assert decide(after, history, PREVIOUS, consumed).runs == ("a2", "b2")


def test_a_run_older_than_the_one_consumed_is_a_stale_read_and_never_counts() -> None:
    after = After(jobs=("a",))
    consumed = Consumed(frozenset({"a2"}), {"a": at("02:03", 28)})
    assert not decide(after, {"a": [ok("a1", "02:01", day=28)]}, PREVIOUS, consumed).complete
    assert decide(after, {"a": [ok("a3", "02:03", day=28)]}, PREVIOUS, consumed).complete


@pytest.mark.parametrize(
    ("finished_at", "counts"),
    [
        (PREVIOUS - SKEW, True),  # Batch's clock 5 min behind: the run finished just now
        (PREVIOUS - SKEW + timedelta(seconds=1), True),
        (PREVIOUS - SKEW - timedelta(seconds=1), False),  # before this cycle, by any clock
        (PREVIOUS + SKEW, True),
    ],
)
def test_a_run_up_to_five_minutes_before_the_cycle_start_counts(
    finished_at: datetime, counts: bool
) -> None:
    run = Finished("a1", "SUCCEEDED", finished_at)
    assert decide(After(jobs=("a",)), {"a": [run]}, PREVIOUS).complete is counts


def test_the_consumed_runs_are_read_from_the_job_state() -> None:
    state = JobState(
        job="d",
        upstream_runs=["a1"],
        upstream_finished={"a": "2026-11-28T02:04:00.000Z"},
    )
    consumed = consumed_by_previous(state)
    assert consumed.runs == {"a1"} and consumed.finished == {"a": at("02:04", 28)}
    assert consumed_by_previous(None) == Consumed()


@settings(max_examples=200, deadline=None)
@given(
    skew=st.integers(min_value=-300, max_value=300),
    gaps=st.lists(st.integers(min_value=0, max_value=7200), min_size=1, max_size=6),
    checks=st.integers(min_value=1, max_value=4),
)
def test_each_upstream_run_starts_one_cycle_whatever_the_skew(
    skew: int, gaps: list[int], checks: int
) -> None:
    # Given one upstream job whose runs Batch stamps `skew` seconds off the function's clock,
    # each finishing `gap` seconds after the previous cycle started (the function checks the
    # cycle `checks` times per outcome, as events, redeliveries and ticks do)
    after = After(jobs=("a",))
    clock = PREVIOUS
    since: datetime | None = None
    consumed = Consumed()
    starts: list[str] = []
    for number, gap in enumerate(gaps):
        clock += timedelta(seconds=gap)
        run = Finished(f"a{number}", "SUCCEEDED", clock + timedelta(seconds=skew))
        for _ in range(checks):
            clock += timedelta(milliseconds=1)
            cycle = decide(after, {"a": [run]}, cycle_start(since, clock), consumed)
            if cycle.complete:
                starts.append(cycle.runs[0])
                since = clock
                consumed = Consumed(frozenset(cycle.runs), {"a": run.finished_at})
    # Then every run started exactly one cycle
    assert starts == [f"a{number}" for number in range(len(gaps))]
