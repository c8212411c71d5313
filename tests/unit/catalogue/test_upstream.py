"""The cycle rule of `after:` jobs: upstream histories -> start or wait."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import After
from batchcron.catalogue.upstream import (
    Finished,
    blocked_by_failure,
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
