"""Start lag: slot (or trigger) -> RUNNING, its percentiles, and a run's timeline."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from batchcron.models import Attempt, Run, Status
from batchcron.outcomes.lag import lag_percentiles, lag_text, percentile, start_lag, timeline


def run(slot: str | None, running: str | None, **fields: object) -> Run:
    return Run.model_validate(
        {
            "job": "parish",
            "run_id": "parish-1",
            "trigger": "schedule" if slot else "push",
            "status": Status.SUCCEEDED,
            "created_at": "2026-12-01T00:00:30.000Z",
            "slot": slot,
            "running_at": running,
            **fields,
        }
    )


def test_lag_from_slot_else_trigger_else_first_attempt() -> None:
    assert start_lag(run("2026-12-01T00:00:00.000Z", "2026-12-01T00:01:30.000Z")) == 90
    assert start_lag(run(None, "2026-12-01T00:01:30.000Z")) == 60
    attempt = Attempt(started_at="2026-12-01T00:02:00.000Z")
    assert start_lag(run("2026-12-01T00:00:00.000Z", None, attempts=[attempt])) == 120
    assert start_lag(run("2026-12-01T00:00:00.000Z", None)) is None


def test_percentiles_over_the_newest_25_that_started() -> None:
    runs = [run("2026-12-01T00:00:00.000Z", f"2026-12-01T00:{m:02d}:00.000Z") for m in range(40)]
    runs.insert(3, run("2026-12-01T00:00:00.000Z", None))  # never ran: not counted

    lag = lag_percentiles(runs)

    assert lag is not None and lag.runs == 25
    assert (lag.p50, lag.p95) == (12 * 60, 23 * 60)
    assert lag_percentiles([]) is None


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50))
def test_percentiles_are_values_in_order(values: list[float]) -> None:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    assert p50 in values and p95 in values
    assert min(values) <= p50 <= p95 <= max(values)


def test_timeline_in_order_with_what_the_run_has() -> None:
    found = timeline(
        run(
            "2026-12-01T00:00:00.000Z",
            "2026-12-01T00:01:30.000Z",
            claimed_at="2026-12-01T00:00:01.000Z",
            submitted_at="2026-12-01T00:00:02.000Z",
            runnable_at="2026-12-01T00:00:03.000Z",
            stopped_at="2026-12-01T00:09:00.000Z",
        )
    )

    assert [step for step, _ in found] == [
        "slot",
        "claimed",
        "submitted",
        "RUNNABLE",
        "RUNNING",
        "finished",
    ]
    assert lag_text(90) == "1m 30s" and lag_text(None) == "-" and lag_text(3700) == "1h 01m"
