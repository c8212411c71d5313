"""The campaign "nothing stalls in silence": over 50 seeded nights of chained jobs, every
downstream job runs once per cycle, or has a recorded failed run with an alert, or an alerted and
visible overdue wait."""

from __future__ import annotations

from tests.fault_injection.stalls import FAULTS, stalls


def test_stalls_nothing_stalls_in_silence() -> None:
    tally = stalls()
    detail = tally.detail
    assert detail["nights"] >= 50, tally
    assert detail["silent_stalls"] == 0, tally
    assert tally.lost == 0 and tally.duplicates == 0, tally
    assert tally.done == tally.expected == 2 * detail["nights"], tally
    # every kind of fault was injected, and the catalogue refused every disabled upstream
    assert all(detail[f"fault_{name}"] > 0 for name in FAULTS), tally
    assert detail["disabled_upstream_rejected"] == detail["fault_disabled"], tally
    # the faults did something: waits were alerted, and most nights the chain ran
    assert detail["wait_alerted_and_visible"] > 0, tally
    assert detail["ran"] > detail["nights"], tally
    assert detail["follow_ups"] > 0, tally
