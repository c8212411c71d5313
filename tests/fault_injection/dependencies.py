"""The dependency campaign: `after:` jobs start exactly once per cycle of their upstream jobs,
whatever the order, duplication and concurrency of the upstreams' state events, and when some
invocations die before starting the downstream job (the dispatcher's tick recovers those).

Bounded and seeded like the campaigns in campaigns.py; returns a Tally and asserts nothing
(test_dependencies.py does, and `make bench` reports the same tally)."""

from __future__ import annotations

import queue
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from batchcron.models import Run, Status, parse_time
from batchcron.settings import settings
from batchcron.store.runs import RunStore
from tests.batch_events import from_batch
from tests.fault_injection.campaigns import ConditionalFailures
from tests.fault_injection.harness import Clock, Stack, Tally, moto_stack

UPSTREAMS = ("collect-a", "collect-b", "collect-c")
CATALOGUE = """
jobs:
  collect-a: {repository: acme/collect-a}
  collect-b: {repository: acme/collect-b}
  collect-c: {repository: acme/collect-c}
  build:
    repository: acme/build
    script: builder
    after: {jobs: [collect-a, collect-b, collect-c]}
  tiles:
    repository: acme/tiles
    script: builder
    after: {jobs: [build]}
  report:
    repository: acme/report
    after: {jobs: [collect-a, collect-b], when: finished}
"""
DAY0 = datetime(2026, 3, 2, tzinfo=UTC)
EVENTS_AT = timedelta(hours=12)  # each day's events are recorded by then (the clock)
WORKERS = 2  # concurrent job-state invocations


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _terminal(job: str, run_id: str, status: str, stopped: datetime, rng: random.Random) -> Any:
    """A RUNNING and a terminal event of one run of `job` stopping at `stopped`."""
    from tests.batch_events import batch_event

    kwargs: dict[str, Any] = {
        "job": job,
        "run_id": run_id,
        "job_id": _uuid(rng),
        "max_attempts": 1,
        "repository": None,
        "start": stopped - timedelta(minutes=6),
    }
    exit_code = 0 if status == "SUCCEEDED" else 2
    return [
        batch_event("RUNNING", 0, **kwargs),
        batch_event(status, 1, exit_code=exit_code, **kwargs),
    ]


def _day_plan(day: int, rng: random.Random) -> tuple[list[Any], Counter[str], dict[str, str]]:
    """Each upstream's runs of one day: a success, or a failure (re-run by hand to success in
    half the cases, else left failed). Returns the events, what was planned and each job's last
    status that day."""
    events: list[Any] = []
    planned: Counter[str] = Counter()
    last: dict[str, str] = {}
    base = DAY0 + timedelta(days=day)
    for index, job in enumerate(UPSTREAMS):
        stopped = base + timedelta(hours=1, minutes=10 * index + rng.randrange(0, 10))
        if rng.random() < 0.3:
            events += _terminal(job, f"{job}-d{day}-1", "FAILED", stopped, rng)
            planned["failed_upstream_runs"] += 1
            if rng.random() < 0.5:
                rerun = stopped + timedelta(hours=2)
                events += _terminal(job, f"{job}-d{day}-rerun", "SUCCEEDED", rerun, rng)
                planned["reruns"] += 1
                last[job] = "SUCCEEDED"
            else:
                last[job] = "FAILED"
        else:
            events += _terminal(job, f"{job}-d{day}-1", "SUCCEEDED", stopped, rng)
            last[job] = "SUCCEEDED"
    return events, planned, last


def _chaos(events: list[Any], rng: random.Random, injected: Counter[str]) -> list[Any]:
    """Shuffled, 40% duplicated (the copy anywhere later in the day)."""
    mixed = list(events)
    for event in events:
        if rng.random() < 0.4:
            mixed.append(event)
            injected["duplicated"] += 1
    rng.shuffle(mixed)
    injected["shuffled_days"] += 1
    return mixed


class _TickingClock(Clock):
    """Each reading is a millisecond after the previous one, as two invocations' clocks never
    agree to the millisecond (so two starts of one cycle would get two run ids)."""

    def __init__(self, now: datetime) -> None:
        super().__init__(now)
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            self.now += timedelta(milliseconds=1)
            return self.now


class _Claims:
    """Counts cycle claims won and lost (a lost claim is a race another invocation won)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.won = 0
        self.lost = 0

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        from batchcron.store.items import ConflictError

        def claim_cycle(*args: Any, **kwargs: Any) -> Any:
            try:
                claimed = original(*args, **kwargs)
            except ConflictError:
                with self.lock:
                    self.lost += 1
                raise
            with self.lock:
                self.won += 1
            return claimed

        return claim_cycle


class _Lossy:
    """Makes a share of downstream checks die (the invocation crashed after counting the
    upstream's outcome, before starting anything): seeded, thread-safe."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self.rng = rng
        self.rate = rate
        self.lock = threading.Lock()
        self.lost = 0

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def after_outcome(cycles: Any, upstream: str) -> Any:
            with self.lock:
                die = self.rng.random() < self.rate
                self.lost += die
            if die:
                raise RuntimeError("invocation died before starting downstream jobs")
            return original(cycles, upstream)

        return after_outcome


def dependencies(seed: int = 83, days: int = 8) -> Tally:
    """Three collections a day (30% fail; half of those re-run by hand to success) recorded
    through two concurrent job-state workers in a seeded shuffled order, 40% duplicated, with
    20% of downstream checks dying; a tick each day; the builder's own terminal events
    (duplicated) drive `tiles` after it → `build` and `tiles` start once on each day whose
    collections all ended in success, `report` (`when: finished`) once every day, never more."""
    from unittest import mock

    from batchcron.scheduling import cycles

    tally = Tally("after: jobs under shuffled, duplicated, concurrent and lost events", seed)
    rng = random.Random(seed)
    injected: Counter[str] = Counter()
    expected: Counter[tuple[str, int]] = Counter()
    lossy = _Lossy(random.Random(seed + 1), 0.2)
    claims = _Claims()
    # Each write waits a little (seeded), so concurrent checks really overlap.
    windows = ConditionalFailures(seed + 2, max_delay=0.01)
    tick_errors = errors = 0
    with moto_stack(CATALOGUE) as stack:
        clock = _TickingClock(DAY0)
        recorder, dispatcher = _parts(stack, clock)
        store = recorder.store
        windows.attach(store.client)
        patched = lossy.wrap(cycles.Cycles.after_outcome)
        with (
            mock.patch.object(cycles.Cycles, "after_outcome", patched),
            mock.patch.object(cycles, "claim_cycle", claims.wrap(cycles.claim_cycle)),
        ):
            for day in range(days):
                events, planned, last = _day_plan(day, rng)
                injected.update(planned)
                if all(status == "SUCCEEDED" for status in last.values()):
                    expected[("build", day)] = expected[("tiles", day)] = 1
                expected[("report", day)] = 1  # both its upstreams ran: finished either way
                clock.now = DAY0 + timedelta(days=day) + EVENTS_AT
                chaos = _chaos(events, rng, injected)
                tally.attempted += len(chaos)
                errors += _deliver(recorder, chaos)
                try:
                    dispatcher.tick(clock.now)
                except Exception:
                    tick_errors += 1
                built = [
                    run
                    for run in _upstream_runs(store, "build")
                    if _day(run) == day and run.batch_job_id
                ]
                for run in built:
                    finished = _terminal("build", run.run_id, "SUCCEEDED", clock.now, rng)
                    clock.now += timedelta(minutes=30)
                    errors += _deliver(recorder, [*finished, finished[-1]])
                    tally.attempted += 3
                clock.now += timedelta(minutes=1)
                try:
                    dispatcher.tick(clock.now)
                except Exception:
                    tick_errors += 1
        got: Counter[tuple[str, int]] = Counter()
        wrong_inputs = 0
        for job in ("build", "tiles", "report"):
            for run in _upstream_runs(store, job):
                got[(job, _day(run))] += 1
                if job == "build" and run.status != Status.SKIPPED:
                    day = _day(run)
                    wanted = {f"{name}-d{day}-1" for name in UPSTREAMS}
                    wanted |= {f"{name}-d{day}-rerun" for name in UPSTREAMS}
                    wrong_inputs += not set(run.upstream_runs) <= wanted
        names = stack.names()
        batch_duplicates = sum(count - 1 for name, count in names.items() if count > 1)
    tally.faults = (
        sum(injected[k] for k in ("duplicated", "failed_upstream_runs")) + lossy.lost + claims.lost
    )
    tally.expected = sum(expected.values())
    tally.done = sum(1 for key in expected if got[key] == 1)
    tally.duplicates = sum(count - 1 for count in got.values() if count > 1) + batch_duplicates
    tally.lost = sum(1 for key in expected if got[key] == 0)
    tally.detail.update(
        days=days,
        workers=WORKERS,
        **injected,
        lost_triggers=lossy.lost,
        cycle_claims_won=claims.won,
        cycle_claims_lost_to_a_race=claims.lost,
        conditional_check_failures=windows.failed,
        unexpected_starts=sum(count for key, count in got.items() if key not in expected),
        wrong_upstream_runs=wrong_inputs,
        tick_errors=tick_errors,
        invocation_errors=errors,
    )
    return tally


def _parts(stack: Stack, clock: Clock) -> tuple[Any, Any]:
    """A recorder (the job-state path) and a dispatcher sharing one submitter and clock."""
    from batchcron.adapters.batch import Batch
    from batchcron.outcomes.notify import Notifier
    from batchcron.outcomes.record import Recorder
    from batchcron.scheduling.dispatch import Dispatcher
    from batchcron.scheduling.submit import Submitter

    store = stack.store(stack.client("dynamodb"))
    submitter = Submitter(store, Batch(stack.client("batch")), settings(), clock=clock)
    notifier = Notifier(
        store, settings(), catalogue=lambda: stack.catalogue, secret=lambda arn: "", clock=clock
    )
    recorder = Recorder(stack.catalogue, store, notifier, submitter=lambda: submitter, clock=clock)
    dispatcher = Dispatcher(stack.catalogue, store, submitter, workers=1, clock=clock)
    return recorder, dispatcher


def _deliver(recorder: Any, events: list[Any]) -> int:
    """Record `events` through WORKERS concurrent invocations taking them in order. A failed
    invocation is retried (as Lambda does); returns how many events failed every try."""
    failed: list[Any] = []
    todo: queue.Queue[Any] = queue.Queue()
    for event in events:
        todo.put(event)

    def worker() -> None:
        while True:
            try:
                event = todo.get_nowait()
            except queue.Empty:
                return
            for _ in range(3):
                try:
                    recorder.record_event(from_batch(event, recorder.store))
                    break
                except Exception:
                    continue
            else:
                failed.append(event)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return len(failed)


def _upstream_runs(store: RunStore, job: str) -> list[Run]:
    return [run for run in store.runs_for_job(job, limit=200) if run.trigger == "upstream"]


def _day(run: Run) -> int:
    return (parse_time(run.created_at) - DAY0).days


CAMPAIGNS: dict[str, Callable[[], Tally]] = {"dependencies": dependencies}
