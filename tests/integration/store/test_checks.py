"""The tick's once-per-cycle checks on the run store (store/checks.py) under moto: a check fires
once however many callers race for it, its follow-up is recorded once, and open checks are
the fired ones without a follow-up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from batchcron.settings import settings
from batchcron.store import checks
from batchcron.store.runs import RunStore

T0 = datetime(2027, 3, 28, 6, 0, tzinfo=UTC)


@pytest.fixture
def store(aws_env: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunStore]:
    monkeypatch.setattr(checks, "utcnow", lambda: T0)  # a clock that stands still
    yield RunStore(settings().runs_table)


def test_a_check_fires_once_per_job_kind_and_cycle(store: RunStore) -> None:
    assert checks.mark(store, "parish", "deadline", "2027-03-28T00:00:00Z", {"why": "late"})
    assert not checks.mark(store, "parish", "deadline", "2027-03-28T00:00:00Z")
    # Another cycle, kind or job is another check.
    assert checks.mark(store, "parish", "deadline", "2027-03-29T00:00:00Z")
    assert checks.mark(store, "parish", "wait", "2027-03-28T00:00:00Z")
    assert checks.mark(store, "tiles", "deadline", "2027-03-28T00:00:00Z")
    item = checks.get(store, "parish", "deadline", "2027-03-28T00:00:00Z")
    assert item is not None
    assert item["why"] == "late"
    assert item["fired_at"] == "2027-03-28T06:00:00.000Z"
    assert item["expires_at"] == int((T0 + checks.CHECK_TTL).timestamp())


def test_racing_callers_fire_it_once(store: RunStore) -> None:
    won: list[bool] = []
    barrier = threading.Barrier(6)

    def race() -> None:
        barrier.wait()
        won.append(checks.mark(store, "parish", "deadline", "2027-03-28T00:00:00Z"))

    threads = [threading.Thread(target=race) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False] * 5 + [True]


def test_follow_up_once_and_only_after_it_fired(store: RunStore) -> None:
    cycle = "2027-03-28T00:00:00Z"
    assert not checks.follow_up(store, "parish", "deadline", cycle)
    assert checks.get(store, "parish", "deadline", cycle) is None  # no half item left
    checks.mark(store, "parish", "deadline", cycle)
    assert checks.follow_up(store, "parish", "deadline", cycle, {"finished": "SUCCEEDED"})
    assert not checks.follow_up(store, "parish", "deadline", cycle)
    item = checks.get(store, "parish", "deadline", cycle)
    assert item is not None
    assert item["finished"] == "SUCCEEDED"


def test_open_checks_are_fired_without_follow_up_oldest_first(store: RunStore) -> None:
    for cycle in ("2027-03-27T00:00:00Z", "2027-03-26T00:00:00Z", "2027-03-28T00:00:00Z"):
        checks.mark(store, "parish", "wait", cycle)
    checks.mark(store, "parish", "deadline", "2027-03-25T00:00:00Z")
    checks.follow_up(store, "parish", "wait", "2027-03-27T00:00:00Z")
    assert [c["cycle"] for c in checks.open_checks(store, "parish", "wait")] == [
        "2027-03-26T00:00:00Z",
        "2027-03-28T00:00:00Z",
    ]


def test_kind_and_cycle_cannot_reach_into_other_keys(store: RunStore) -> None:
    with pytest.raises(ValueError, match="may not contain"):
        checks.mark(store, "parish", "deadline#x", "2027-03-28T00:00:00Z")
