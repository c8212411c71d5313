"""Fault-isolation campaigns: one fault in one job, one alert or one input must stop nothing else.
Like campaigns.py, each is bounded and seeded, runs batchcron's real code on moto (and a fake
Slack over real HTTP), and returns a Tally; test_isolation.py asserts on it."""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from batchcron.models import Alert, Run, Status, iso
from batchcron.scheduling.dispatch import FutureTickError, TickFailedError
from batchcron.scheduling.submit import REDRIVE_AFTER, run_name
from batchcron.settings import settings
from batchcron.store.runs import ALERTS, RunStore
from tests.fault_injection.campaigns import (
    MINUTE,
    T0,
    _all_runs,
    _batch,
    _dispatcher,
    _exactly_once,
)
from tests.fault_injection.fake_slack import FakeSlack, over_limits
from tests.fault_injection.harness import Clock, Tally, many_jobs, moto_stack
from tests.faults import Storm, storm_on

# --- a poison job among healthy ones ---------------------------------------------------------

POISONS = {
    # job -> what its submit meets
    "poison-queue": "job_queue: arn:aws:batch:eu-west-2:123456789012:job-queue/not-allowed",
    "poison-definition": "job_definition: {missing}",
    "poison-denied": "",
    "poison-bug": "",
}


def _poison_catalogue(healthy: int, missing_definition: str) -> str:
    text = many_jobs(healthy, "*/5 * * * *", extra="concurrency: allow")
    for name, extra in POISONS.items():
        text += f"  {name}:\n    repository: acme/{name}\n    schedule: '*/5 * * * *'\n"
        if extra:
            text += f"    {extra.format(missing=missing_definition)}\n"
    return text


class _SubmitFaults:
    """On SubmitJob: AccessDenied for `poison-denied`, an unexpected exception for `poison-bug`
    (a bug or an error type nobody anticipated)."""

    def __init__(self) -> None:
        self.injected: Counter[str] = Counter()

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        name = str(params.get("jobName", ""))
        if name.startswith("poison-denied"):
            self.injected["access_denied"] += 1
            raise ClientError(
                {
                    "Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "SubmitJob",
            )
        if name.startswith("poison-bug"):
            self.injected["unexpected_error"] += 1
            raise KeyError("jobId")


def poison_job(seed: int = 83, healthy: int = 20, minutes: int = 30) -> Tally:
    """20 healthy jobs and 4 poison jobs every 5 minutes, ticks every minute for half an hour.
    The poison jobs' submits meet a queue the stack does not allow, a missing job definition,
    AccessDenied and an unexpected exception → every healthy slot submitted once in its own
    tick, each poison slot SUBMIT_FAILED (never MISSED) with one alert, the watermark on time."""
    tally = Tally("poison jobs among healthy ones", seed)
    with moto_stack(many_jobs(healthy, "*/5 * * * *", extra="concurrency: allow")) as stack:
        base = settings().job_definition.rsplit(":", 1)[0]
        missing = f"{base}-missing:1"
        os.environ["EXTRA_JOB_DEFINITION_ARNS"] = missing  # allowed, but Batch has none
        settings.cache_clear()
        from batchcron.catalogue.loading import parse_catalogue

        catalogue = parse_catalogue(_poison_catalogue(healthy, missing))
        clock = Clock(T0)
        batch, submit_client = _batch(stack, seed)
        faults = _SubmitFaults()
        submit_client.meta.events.register("provide-client-params.batch.SubmitJob", faults)
        alerts: list[Run] = []
        dispatcher = _dispatcher(stack, clock, batch, catalogue=catalogue, alerts=alerts)
        dispatcher.tick(T0)
        counts: Counter[str] = Counter()
        watermark_on_time = 0
        healthy_in_their_tick = 0
        store = stack.store()
        for minute in range(1, minutes + 1):
            clock.now = T0 + MINUTE * minute
            counts["ticks"] += 1
            started = time.monotonic()
            try:
                result = dispatcher.tick(clock.now)
                outcomes = result.outcomes
            except TickFailedError:
                counts["failed_ticks"] += 1
                outcomes = []
            counts["tick_ms_max"] = max(
                counts["tick_ms_max"], int((time.monotonic() - started) * 1000)
            )
            watermark_on_time += store.watermark() == clock.now
            if clock.now.minute % 5 == 0:
                names = stack.names()
                healthy_in_their_tick += all(
                    names[run_name(f"job-{i:03d}", clock.now, precise=False)] == 1
                    for i in range(healthy)
                )
            counts["submitted_outcomes"] += sum(o.action == "submitted" for o in outcomes)
        slots = [
            T0 + MINUTE * m for m in range(1, minutes + 1) if (T0 + MINUTE * m).minute % 5 == 0
        ]
        expected = {
            run_name(f"job-{i:03d}", s, precise=False) for i in range(healthy) for s in slots
        }
        tally.expected = len(expected)
        _exactly_once(tally, stack, expected)
        poison_runs = [
            store.get_run(name, run_name(name, slot, precise=False))
            for name in POISONS
            for slot in slots
        ]
        statuses = Counter(run.status.value if run else "none" for run in poison_runs)
        alerted = Counter(run.run_id for run in alerts if run.job in POISONS)
        poison_batch = sum(1 for name in stack.names() if name.startswith("poison"))
        tally.attempted = len(expected) + len(poison_runs)
        tally.faults = len(poison_runs)
        tally.lost += sum(1 for run in poison_runs if run is None)
        tally.detail.update(
            poison_slots=len(poison_runs),
            poison_submit_failed=statuses["SUBMIT_FAILED"],
            poison_missed=statuses["MISSED"],
            poison_alerts=sum(alerted.values()),
            poison_runs_alerted_once=sum(1 for count in alerted.values() if count == 1),
            poison_in_batch=poison_batch,
            healthy_ticks=len(slots),
            healthy_submitted_in_their_tick=healthy_in_their_tick,
            watermark_on_time=watermark_on_time,
            access_denied=faults.injected["access_denied"],
            unexpected_errors=faults.injected["unexpected_error"],
            **counts,
        )
    return tally


# --- Slack rate limiting, hanging, refusing, with a backlog ------------------------------------


class _Timeline:
    """The order of SubmitJob calls and Slack requests, and a fake invocation clock that each
    Slack request spends (as much as the client's timeout: the worst case)."""

    def __init__(self, seconds_left: float, per_request: float) -> None:
        self.events: list[str] = []
        self.left = seconds_left
        self.per_request = per_request

    def time_left(self) -> float:
        return self.left

    def on_submit(self, **_: Any) -> None:
        self.events.append("submit")

    def slack(self, timeout: float) -> Any:
        from batchcron.adapters.slack import Slack

        timeline = self

        class Timed(Slack):
            def send(self, url: str, message: Any) -> None:
                timeline.events.append("slack")
                timeline.left -= timeline.per_request
                super().send(url, message)

        return Timed(timeout=int(timeout), retries=0, backoff=0)

    @property
    def submits_before_first_slack(self) -> bool:
        first = self.events.index("slack") if "slack" in self.events else len(self.events)
        return "submit" not in self.events[first:]


def _pending_alerts(store: RunStore, count: int, when: Any, prefix: str = "old") -> set[str]:
    ids = set()
    for i in range(count):
        run = Run(
            job="job-000",
            run_id=f"job-000-{prefix}{i:04d}",
            trigger="manual",
            status=Status.FAILED,
            created_at=iso(when) or "",
            alert=Alert(kind="failed", failures=1, created_at=iso(when)),
        )
        store.claim_run(run)
        store.update_run(run.job, run.run_id, {}, outbox_at=when, queue=ALERTS)
        ids.add(run.run_id)
    return ids


def _slack_tick(
    mode: str, backlog: int, seed: int, *, healthy: int = 10, crashed_claim: bool = False
) -> dict[str, int]:
    """One stack: `healthy` jobs due at 01:00, `backlog` pending alerts, Slack in `mode`; one
    tick (then, Slack fine again, ticks until the backlog is done or given up)."""
    from batchcron.outcomes.notify import Notifier

    found: Counter[str] = Counter()
    with FakeSlack() as slack, moto_stack(many_jobs(healthy, "0 1 * * *")) as stack:
        clock = Clock(T0)
        batch, submit_client = _batch(stack, seed)
        store = stack.store()
        timeline = _Timeline(seconds_left=110.0, per_request=3.0)
        submit_client.meta.events.register("before-call.batch.SubmitJob", timeline.on_submit)
        notifier = Notifier(
            store,
            settings(),
            catalogue=lambda: stack.catalogue,
            secret=lambda arn: slack.url,
            slack=timeline.slack(timeout=1),
            clock=clock,
        )
        dispatcher = _dispatcher(stack, clock, batch, deliver=notifier.deliver)
        dispatcher.tick(T0)
        backlog_ids = _pending_alerts(store, backlog, T0 - timedelta(hours=1))
        if crashed_claim:
            claim = Run(
                job="job-001",
                run_id="job-001-crashed",
                trigger="manual",
                status=Status.CLAIMED,
                created_at=iso(T0 - timedelta(minutes=10)) or "",
                claimed_at=iso(T0 - timedelta(minutes=10)),
            )
            store.claim_run(claim, outbox_at=T0 - timedelta(minutes=10) + REDRIVE_AFTER)
        slack.set(mode, delay=3.0)  # type: ignore[arg-type]
        slack.retry_after = 30
        clock.now = T0 + MINUTE
        started = time.monotonic()
        result = dispatcher.tick(clock.now, time_left=timeline.time_left)
        found["tick_ms"] = int((time.monotonic() - started) * 1000)
        found["slack_requests_in_tick"] = timeline.events.count("slack")
        found["submits_before_first_slack"] = int(timeline.submits_before_first_slack)
        found["submitted_in_tick"] = sum(o.action == "submitted" for o in result.outcomes)
        found["outbox_deferred"] = result.outbox_deferred
        found["crashed_claim_redriven"] = int("job-001-crashed" in stack.names())
        # Slack recovers: later ticks deliver what is still pending, once each.
        if mode != "404":  # a revoked webhook stays revoked
            slack.set("ok")
        for minute in range(2, 60):
            clock.now = T0 + MINUTE * minute + timedelta(minutes=minute)
            timeline.left = 110.0
            dispatcher.tick(clock.now, time_left=timeline.time_left)
            if not store.outbox(until=clock.now + timedelta(days=2), queue=ALERTS):
                break
            found["ticks_to_drain"] = minute
        runs = {run.run_id: run for run in _all_runs(store)}
        states = Counter(
            runs[run_id].alert.state  # type: ignore[union-attr]
            for run_id in backlog_ids
        )
        # Slack showed a message when it answered 200 (even to a client that gave up waiting).
        shown = Counter(r.run_id for r in slack.received if r.status == 200)
        found["alerts"] = backlog
        found["alerts_sent"] = states["sent"]
        found["alerts_failed"] = states["failed"]
        found["alerts_pending"] = states["pending"]
        found["alerts_shown_twice"] = sum(1 for count in shown.values() if count > 1)
        found["answered_after_client_gave_up"] = sum(
            1 for r in slack.received if r.status == 200 and r.delay >= 1
        )
        found["slack_requests"] = len(slack.received)
        found["payloads_over_limits"] = sum(1 for m in slack.messages if over_limits(m))
        expected = {run_name(f"job-{i:03d}", T0 + MINUTE, precise=False) for i in range(healthy)}
        names = stack.names()
        found["healthy"] = healthy
        found["healthy_once"] = sum(1 for name in expected if names[name] == 1)
    return dict(found)


def slack_backlog(seed: int = 89) -> Tally:
    """A tick with 10 due slots and 30 pending alerts while Slack answers 429 (Retry-After 30),
    hangs past the client's timeout, or answers 503; and one with 200 alerts Slack refuses for
    good (404 no_service) in front of a crashed claim → the slots are submitted before any Slack
    request, Slack requests within the tick's budget, the claim re-driven, every alert sent
    once after recovery or failed for good."""
    tally = Tally("Slack 429, hang, 503, 404 with a backlog of alerts", seed)
    scenarios = {
        "429": ("429", 30, False),
        "hang": ("slow", 30, False),
        "503": ("503", 30, False),
        "404": ("404", 200, True),
    }
    for name, (mode, backlog, crashed) in scenarios.items():
        found = _slack_tick(mode, backlog, seed, crashed_claim=crashed)
        tally.attempted += found["healthy"] + found["alerts"]
        tally.faults += found["alerts"] if mode == "404" else found["slack_requests_in_tick"]
        tally.expected += found["healthy"] + found["alerts"]
        done_alerts = found["alerts_failed"] if mode == "404" else found["alerts_sent"]
        tally.done += found["healthy_once"] + done_alerts
        tally.lost += found["healthy"] - found["healthy_once"] + found["alerts_pending"]
        # A message Slack showed after the client gave up is shown again on the retry: the
        # at-least-once edge of any webhook; counted apart, not as batchcron's duplicate.
        tally.duplicates += found["alerts_shown_twice"] - found["answered_after_client_gave_up"]
        for key, value in found.items():
            tally.detail[f"{name}_{key}"] = value
    return tally


# --- a tick from the future ------------------------------------------------------------------


def future_tick(seed: int = 97, jobs: int = 10) -> Tally:
    """Ticks whose scheduled_time or replay_from are hours to years ahead (through the handler's
    parsing and the dispatcher), among real ticks every minute for an hour → each refused with
    nothing submitted and the watermark unchanged; every real slot submitted once."""
    from batchcron.handlers.dispatch import parse_tick

    tally = Tally("ticks from the future", seed)
    rng = random.Random(seed)
    with moto_stack(many_jobs(jobs, "*/10 * * * *", extra="concurrency: allow")) as stack:
        clock = Clock(T0)
        batch, _ = _batch(stack, seed)
        dispatcher = _dispatcher(stack, clock, batch)
        store = stack.store()
        dispatcher.tick(T0)
        counts: Counter[str] = Counter()
        for minute in range(1, 61):
            clock.now = T0 + MINUTE * minute
            if rng.random() < 0.3:
                ahead = timedelta(minutes=rng.choice([6, 60, 60 * 24, 60 * 24 * 365]))
                event = {"scheduled_time": iso(clock.now + ahead)}
                if rng.random() < 0.3:
                    event = {
                        "scheduled_time": iso(clock.now),
                        "replay_from": iso(clock.now + ahead),
                    }
                    event["scheduled_time"] = iso(clock.now + ahead + MINUTE)
                tick = parse_tick(event)
                before, names_before = store.watermark(), sum(stack.names().values())
                counts["future_ticks"] += 1
                try:
                    dispatcher.tick(tick.scheduled_time or clock.now, replay_from=tick.replay_from)
                except FutureTickError:
                    counts["refused"] += 1
                counts["watermark_moved"] += store.watermark() != before
                counts["submitted_by_future_ticks"] += sum(stack.names().values()) - names_before
            dispatcher.tick(clock.now)
            counts["real_ticks"] += 1
            watermark = store.watermark()
            counts["watermark_past_clock"] += bool(watermark and watermark > clock.now)
        expected = {
            run_name(f"job-{i:03d}", T0 + MINUTE * m, precise=False)
            for i in range(jobs)
            for m in range(1, 61)
            if (T0 + MINUTE * m).minute % 10 == 0
        }
        tally.attempted = counts["future_ticks"] + counts["real_ticks"]
        tally.faults = counts["future_ticks"]
        tally.expected = len(expected)
        _exactly_once(tally, stack, expected)
        tally.detail.update(**counts)
    return tally


# --- a paused job with a failed submit ---------------------------------------------------------


def paused_failed_submit(seed: int = 101, jobs: int = 10) -> Tally:
    """Batch refuses every SubmitJob of one tick (10 jobs due); half the jobs are then paused.
    Later ticks retry (re-drive) the failed runs: the paused jobs' runs are not submitted (by
    retry, re-drive or a queued start) and recorded SKIPPED; the others are submitted once."""
    tally = Tally("paused jobs with failed submits", seed)
    with moto_stack(many_jobs(jobs, "0 1 * * *")) as stack:
        clock = Clock(T0)
        batch, submit_client = _batch(stack, seed)
        dispatcher = _dispatcher(stack, clock, batch)
        store = stack.store()
        dispatcher.tick(T0)
        clock.now = T0 + MINUTE
        down = Storm("SubmitJob", rate=1.0, error="ServerException", status=500)
        with storm_on(submit_client, down), contextlib.suppress(TickFailedError):
            dispatcher.tick(clock.now)
        paused = {f"job-{i:03d}" for i in range(0, jobs, 2)}
        for name in paused:
            store.update_job_state(name, {"paused": True})
        counts: Counter[str] = Counter()
        for minute in range(2, 20):
            clock.now = T0 + MINUTE * minute
            try:
                dispatcher.tick(clock.now)
            except TickFailedError:
                counts["failed_ticks"] += 1
        # a queued run of a paused job is not started either
        job = stack.catalogue.get(sorted(paused)[0])
        queued = Run(
            job=job.name,
            run_id=f"{job.name}-queued",
            trigger="manual",
            status=Status.QUEUED,
            created_at=iso(clock.now) or "",
        )
        store.claim_run(queued)
        counts["queued_start_action_" + dispatcher.submitter.start(job, queued).action] += 1
        names = stack.names()
        slot = T0 + MINUTE
        paused_runs = [store.get_run(n, run_name(n, slot, precise=False)) for n in paused]
        counts["paused_submitted"] = (
            sum(names[run_name(n, slot, precise=False)] for n in paused)
            + names[f"{job.name}-queued"]
        )
        counts["paused_recorded_skipped"] = sum(
            1 for run in paused_runs if run and run.status == Status.SKIPPED
        )
        expected = {run_name(f"job-{i:03d}", slot, precise=False) for i in range(1, jobs, 2)}
        tally.attempted = jobs + 1
        tally.faults = down.failed
        tally.expected = len(expected) + len(paused)
        _exactly_once(tally, stack, expected)
        tally.done += counts["paused_recorded_skipped"]
        tally.lost += len(paused) - counts["paused_recorded_skipped"]
        tally.detail.update(paused=len(paused), refused_submits=down.failed, **counts)
    return tally


# --- huge inputs -------------------------------------------------------------------------------

HUGE_REASON = "CannotPullContainerError: " + "x" * 100_000


def _huge_events(count: int) -> list[dict[str, Any]]:
    from tests.batch_events import batch_event

    events = []
    for i in range(count):
        event = batch_event(
            "FAILED",
            4,
            job=f"job-{i:03d}",  # one failure per job: each alerts ("failed")
            run_id=f"job-{i:03d}-huge",
            job_id=f"{i:08d}-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
            max_attempts=4,
            reason=HUGE_REASON,
        )
        for attempt in event["detail"]["attempts"]:
            attempt["statusReason"] = HUGE_REASON
            attempt["container"]["reason"] = HUGE_REASON
        events.append(event)
    for i in range(count):
        events.append(
            batch_event(
                "FAILED",
                1,
                job=None,
                job_id=f"{i:08d}-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
                job_name=f"by-hand-{i}",
                repository=f"{i:03d}-" + "r" * 3000,
                reason=HUGE_REASON,
            )
        )
    return events


def huge_inputs(seed: int = 103, count: int = 5) -> Tally:
    """Batch events with 100 KB status reasons on each of 4 attempts, and hand-submitted jobs
    whose REPOSITORY is 3,000 characters, through the job-state recorder with alerts to a fake
    Slack that refuses payloads over Block Kit's limits → every event recorded, every alert
    delivered within the limits, every key within DynamoDB's."""
    from batchcron.adapters.slack import Slack
    from batchcron.catalogue.loading import parse_catalogue
    from batchcron.outcomes.notify import Notifier
    from batchcron.outcomes.record import Recorder

    tally = Tally("100 KB reasons, 3,000-character REPOSITORY", seed)
    catalogue_text = many_jobs(count, None)
    with FakeSlack() as slack, moto_stack(catalogue_text) as stack:
        catalogue = parse_catalogue(catalogue_text)
        store = stack.store()
        notifier = Notifier(
            store,
            settings(),
            catalogue=lambda: catalogue,
            secret=lambda arn: slack.url,
            slack=Slack(timeout=2, retries=0, backoff=0),
        )
        recorder = Recorder(catalogue, store, notifier)
        events = _huge_events(count)
        counts: Counter[str] = Counter()
        recorded: list[tuple[str, str]] = []
        for event in events:
            try:
                result = recorder.record_event(event)
            except Exception as exc:  # counted: a failure to record is a loss
                counts[f"error_{type(exc).__name__}"] += 1
                continue
            counts["alerts_sent"] += result.alert_sent
            recorded.append((result.job, result.run_id))
        runs = [store.get_run(job, run_id) for job, run_id in recorded]
        counts["records"] = sum(1 for run in runs if run is not None)
        counts["reasons_truncated"] = sum(
            1 for run in runs if run and (run.reason or "").endswith("[truncated]")
        )
        counts["distinct_foreign_jobs"] = len({job for job, _ in recorded if job[0].isdigit()})
        counts["longest_key_bytes"] = max(len(f"JOB#{job}".encode()) for job, _ in recorded)
        counts["slack_refused"] = sum(1 for r in slack.received if r.status != 200)
        counts["payloads_over_limits"] = sum(1 for m in slack.messages if over_limits(m))
        tally.attempted = len(events)
        tally.faults = len(events)
        tally.expected = len(events) * 2  # recorded, and alerted
        tally.done = counts["records"] + counts["alerts_sent"]
        tally.lost = tally.expected - tally.done
        tally.detail.update(events=len(events), **counts)
    return tally


ISOLATION_CAMPAIGNS: dict[str, Callable[[], Tally]] = {
    "poison_job": poison_job,
    "slack_backlog": slack_backlog,
    "future_tick": future_tick,
    "paused_failed_submit": paused_failed_submit,
    "huge_inputs": huge_inputs,
}
