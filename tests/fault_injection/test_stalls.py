"""The campaign "nothing stalls in silence": over 50 seeded nights of chained jobs (five shards
of ten, which run in parallel and are the same nights as `make bench`'s one run of fifty), every
downstream job runs once per cycle, or has a recorded failed run with an alert, or an alerted and
visible overdue wait."""

from __future__ import annotations

import pytest

from tests.fault_injection.stalls import FAULTS, SHARD_NIGHTS, SHARDS, stalls

NIGHTS = SHARD_NIGHTS


def test_the_shards_cover_fifty_nights() -> None:
    assert SHARDS * NIGHTS >= 50


@pytest.mark.parametrize("shard", range(SHARDS))
def test_stalls_nothing_stalls_in_silence(shard: int) -> None:
    tally = stalls(nights=NIGHTS, first=shard * NIGHTS)
    detail = tally.detail
    assert detail["nights"] == NIGHTS, tally
    assert detail["silent_stalls"] == 0, tally
    assert tally.lost == 0 and tally.duplicates == 0, tally
    assert tally.done == tally.expected == 2 * NIGHTS, tally
    # every kind of fault was injected, and the catalogue refused every disabled upstream
    assert all(detail[f"fault_{name}"] > 0 for name in FAULTS), tally
    assert detail["disabled_upstream_rejected"] == detail["fault_disabled"], tally
    assert detail.get("disabled_upstream_accepted", 0) == 0, tally
    # the faults did something: the chain ran on most nights, waits were alerted when a
    # collection failed, and each alerted wait got its follow-up once the builder started
    assert detail["ran"] >= NIGHTS, tally
    assert detail["wait_alerted_and_visible"] >= 1, tally
