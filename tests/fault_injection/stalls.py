"""The campaign "nothing stalls in silence" (issue 22): nights of chained jobs (two collections,
a builder after both, tiles after the builder) with seeded faults — Batch refusing or throttling
the builder's submit, the invocation dying after claiming its run, a by-hand re-run of a
collection cancelled, the builder paused and resumed during the night, a collection failing,
and a catalogue with a disabled upstream (which must be rejected at load). At the end of each
night every downstream job has run once for its cycle, or has a recorded run with an alert, or
has an alerted and visible overdue wait (or waits behind one); anything else is a silent stall.

Bounded and seeded like the other campaigns; returns a Tally and asserts nothing."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from batchcron.models import Run, Status, parse_time
from batchcron.settings import settings
from tests.batch_events import from_batch
from tests.fault_injection.harness import Clock, Tally, moto_stack
from tests.faults import Storm, storm_on

CATALOGUE = """
jobs:
  collect-a: {repository: acme/collect-a}
  collect-b: {repository: acme/collect-b}
  build:
    repository: acme/build
    script: builder
    after: {jobs: [collect-a, collect-b], max_wait: 6h}
  tiles:
    repository: acme/tiles
    script: builder
    after: {jobs: [build]}
"""
DISABLED = CATALOGUE.replace(
    "  collect-a: {repository: acme/collect-a}",
    "  collect-a: {repository: acme/collect-a, enabled: false}",
)
DAY0 = datetime(2026, 6, 1, tzinfo=UTC)
FAULTS = ("refuse", "throttle", "crash", "cancel", "pause", "fail", "disabled")
# The night's ticks (the deployed tick runs every minute; these are the ones that matter: after
# the builder's start (a crashed claim is re-driven), once more while the faults last, after the
# resume, and once the builder's max_wait has passed).
TICKS = [
    timedelta(hours=1, minutes=40),
    timedelta(hours=2),
    timedelta(hours=2, minutes=15),
    timedelta(hours=7, minutes=30),
]
RESUME_AT = timedelta(hours=2, minutes=10)
DOWNSTREAM = ("build", "tiles")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _terminal(
    job: str, run_id: str, status: str, stopped: datetime, rng: random.Random, **extra: Any
) -> Any:
    from tests.batch_events import batch_event

    trigger = extra.pop("trigger", "schedule")
    event = batch_event(
        status,
        1,
        job=job,
        run_id=run_id,
        job_id=extra.pop("job_id", None) or _uuid(rng),
        max_attempts=1,
        repository=None,
        exit_code=0 if status == "SUCCEEDED" else 2,
        start=stopped - timedelta(minutes=5),
        **extra,
    )
    event["detail"]["tags"]["batchcron:trigger"] = trigger
    stamp = int(stopped.timestamp() * 1000)
    event["detail"]["stoppedAt"] = event["detail"]["attempts"][-1]["stoppedAt"] = stamp
    return event


def stalls(seed: int = 22, nights: int = 50, first: int = 0) -> Tally:
    """Nights `first` .. `first + nights - 1`, each seeded on its own (`seed` and its number),
    so shards of the nights (tests/fault_injection/test_stalls.py) are the same nights as one
    run of all of them (`make bench`). Each night has one fault in turn and each other with
    probability 0.25."""
    from batchcron.adapters.batch import Batch
    from batchcron.catalogue.errors import CatalogueError
    from batchcron.catalogue.loading import parse_catalogue
    from batchcron.catalogue.upstream import overdue_wait, upstream_names
    from batchcron.outcomes.notify import Notifier
    from batchcron.outcomes.record import Recorder
    from batchcron.scheduling.dispatch import Dispatcher
    from batchcron.scheduling.submit import Submitter

    tally = Tally("nothing stalls in silence: chained jobs under seeded faults", seed)
    injected: Counter[str] = Counter()
    outcome: Counter[str] = Counter()
    notices: list[tuple[str, str]] = []

    def notice(job: Any, text: str) -> bool:
        notices.append((job.name, text))
        return True

    with moto_stack(CATALOGUE) as stack:
        clock = Clock(DAY0)
        batch_client = stack.client("batch")
        store = stack.store()
        submitter = Submitter(store, Batch(batch_client), settings(), clock=clock)
        notifier = Notifier(
            store, settings(), catalogue=lambda: stack.catalogue, secret=lambda arn: "", clock=clock
        )
        recorder = Recorder(
            stack.catalogue, store, notifier, submitter=lambda: submitter, clock=clock
        )
        dispatcher = Dispatcher(
            stack.catalogue, store, submitter, notice=notice, workers=1, clock=clock
        )

        def deliver(event: Any) -> None:
            tally.attempted += 1
            try:
                recorder.record_event(from_batch(event, recorder.store))
            except Exception:
                outcome["invocation_errors"] += 1
                recorder.record_event(from_batch(event, recorder.store))  # Lambda's retry

        def tick() -> None:
            tally.attempted += 1
            try:
                dispatcher.tick(clock.now)
            except Exception:
                outcome["failed_ticks"] += 1  # recorded failures make the tick fail: fine

        def finish_downstream(rng: random.Random) -> None:
            """The builder's run ends (which starts tiles), then tiles' run."""
            for job in DOWNSTREAM:
                for run in _runs(store, job):
                    if run.batch_job_id and not run.status.terminal:
                        deliver(
                            _terminal(
                                job,
                                run.run_id,
                                "SUCCEEDED",
                                clock.now,
                                rng,
                                job_id=run.batch_job_id,
                                trigger="upstream",
                            )
                        )

        for night in range(first, first + nights):
            rng = random.Random(f"{seed}-{night}")
            base = DAY0 + timedelta(days=night)
            faults = {fault for fault in FAULTS if rng.random() < 0.25}
            faults.add(FAULTS[night % len(FAULTS)])
            injected.update(faults)
            if "disabled" in faults:
                try:
                    parse_catalogue(DISABLED)
                    outcome["disabled_upstream_accepted"] += 1
                except CatalogueError as exc:
                    ok = any(p.field == "after.jobs" for p in exc.problems)
                    outcome["disabled_upstream_rejected" if ok else "disabled_wrong_error"] += 1
            # Paused before the night's runs, or (after a crash) between the claim and its
            # re-drive; resumed at RESUME_AT.
            if "pause" in faults and "crash" not in faults:
                store.update_job_state("build", {"paused": True})
            a_status = "FAILED" if "fail" in faults else "SUCCEEDED"
            clock.now = base + timedelta(hours=1)
            deliver(_terminal("collect-a", f"collect-a-n{night}", a_status, clock.now, rng))
            if "cancel" in faults:
                clock.now = base + timedelta(hours=1, minutes=15)
                deliver(
                    _terminal(
                        "collect-a",
                        f"collect-a-n{night}-by-hand",
                        "FAILED",
                        clock.now,
                        rng,
                        reason="batchcron: cancelled by alice",
                        trigger="manual",
                    )
                )
            clock.now = base + timedelta(hours=1, minutes=30)
            last = _terminal("collect-b", f"collect-b-n{night}", "SUCCEEDED", clock.now, rng)
            patches: list[Any] = []
            storms: list[Any] = []
            if "refuse" in faults:
                storms.append(Storm("SubmitJob", first=1, error="ServerException", status=500))
            if "throttle" in faults:
                storms.append(Storm("SubmitJob", first=6))
            if "crash" in faults:

                def die(*args: Any, **kwargs: Any) -> Any:
                    raise RuntimeError("the invocation died after claiming the run")

                patches += [
                    mock.patch.object(Submitter, "start", die),
                    mock.patch.object(Submitter, "fail", die),
                ]
            for patch in patches:
                patch.start()
            contexts = [storm_on(batch_client, storm) for storm in storms]
            for context in contexts:
                context.__enter__()
            try:
                deliver(last)
            finally:
                for patch in patches:
                    patch.stop()
            if "pause" in faults and "crash" in faults:
                store.update_job_state("build", {"paused": True})
                outcome["crash_then_pause"] += 1
            for at in TICKS:
                clock.now = base + at
                if "pause" in faults and at > RESUME_AT and _paused(store):
                    store.update_job_state("build", {"paused": False})
                tick()
                if at == TICKS[1]:
                    for context in contexts:
                        context.__exit__(None, None, None)
                    contexts = []
            for context in contexts:
                context.__exit__(None, None, None)
            finish_downstream(rng)

            # --- the night's verdict ---------------------------------------------------
            states = store.job_states(upstream_names(stack.catalogue.jobs.values()))
            verdict: dict[str, str] = {}
            for job in DOWNSTREAM:
                tonight = [run for run in _runs(store, job) if _night(run) == night]
                started = [run for run in tonight if run.batch_job_id]
                tally.expected += 1
                if len(started) > 1:
                    tally.duplicates += len(started) - 1
                entry = stack.catalogue.get(job)
                overdue = overdue_wait(entry, states, clock.now)
                state = states[job]
                if started:
                    verdict[job] = "ran"
                elif any(run.status == Status.SUBMIT_FAILED and run.alert for run in tonight):
                    verdict[job] = "failed_run_alerted"
                elif (
                    overdue is not None
                    and state.wait_cycle == overdue.cycle
                    and any(name == job and "has waited" in text for name, text in notices)
                ):
                    verdict[job] = "wait_alerted_and_visible"
                elif job == "tiles" and verdict.get("build") not in (None, "ran", "silent"):
                    verdict[job] = "waits_behind_an_alerted_wait"
                else:
                    verdict[job] = "silent"
                outcome[verdict[job]] += 1
                if verdict[job] != "silent":
                    tally.done += 1
            outcome["silent_stalls"] += sum(1 for v in verdict.values() if v == "silent")
        names = stack.names()
        tally.duplicates += sum(count - 1 for count in names.values() if count > 1)
    tally.faults = sum(injected.values())
    tally.lost = outcome["silent_stalls"] + outcome["disabled_upstream_accepted"]
    tally.detail.update(
        nights=nights,
        **{f"fault_{name}": injected[name] for name in FAULTS},
        **outcome,
        follow_ups=sum(1 for _, text in notices if "started" in text),
    )
    return tally


def _paused(store: Any) -> bool:
    return bool(store.job_state("build").paused)


def _runs(store: Any, job: str) -> list[Run]:
    return [run for run in store.runs_for_job(job, limit=4) if run.trigger == "upstream"]


def _night(run: Run) -> int:
    return (parse_time(run.created_at) - DAY0).days


SHARDS = 5
SHARD_NIGHTS = 10


def stalls_in_shards(seed: int = 22) -> Tally:
    """The fifty nights as test_stalls.py runs them (five shards of ten), summed."""
    total = Tally("nothing stalls in silence: chained jobs under seeded faults", seed)
    for shard in range(SHARDS):
        part = stalls(seed, SHARD_NIGHTS, first=shard * SHARD_NIGHTS)
        total.attempted += part.attempted
        total.faults += part.faults
        total.expected += part.expected
        total.done += part.done
        total.duplicates += part.duplicates
        total.lost += part.lost
        for key, value in part.detail.items():
            total.detail[key] = total.detail.get(key, 0) + value
    return total


CAMPAIGNS = {"stalls": stalls_in_shards}
