"""The dependency campaign: `after:` jobs start exactly once per cycle whatever the events do."""

from __future__ import annotations

from tests.fault_injection.dependencies import dependencies


def test_dependencies_downstream_runs_exactly_once_per_cycle() -> None:
    tally = dependencies()
    assert tally.faults > 0, tally
    assert tally.lost == 0, tally
    assert tally.duplicates == 0, tally
    assert tally.done == tally.expected > 0, tally
    detail = tally.detail
    assert detail["duplicated"] > 0 and detail["lost_triggers"] > 0, tally
    assert detail["failed_upstream_runs"] > 0 and detail["reruns"] > 0, tally
    assert detail["cycle_claims_won"] == tally.expected, tally
    assert detail["unexpected_starts"] == 0, tally
    assert detail["wrong_upstream_runs"] == 0, tally
    assert detail["tick_errors"] == 0 and detail["invocation_errors"] == 0, tally
    # Some day's collections did not all succeed: its builds did not start
    assert tally.expected < 3 * detail["days"], tally
