"""The fault-injection campaigns. Each is bounded and seeded, runs batchcron's real code on moto
under one kind of fault, and returns a Tally of what it tried and what came out; it asserts
nothing itself (test_campaigns.py does, and `make bench` reports the same tallies)."""

from __future__ import annotations

import base64
import copy
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ReadTimeoutError

from batchcron.adapters.batch import Batch, JobSpec
from batchcron.catalogue.model import Catalogue
from batchcron.models import Run, Status
from batchcron.scheduling.dispatch import Dispatcher, TickFailedError
from batchcron.scheduling.submit import REDRIVE_AFTER, Submitter, run_name
from batchcron.settings import settings
from batchcron.store.runs import RunStore
from tests.batch_events import from_batch
from tests.conftest import fresh_push_payload, load_event
from tests.fault_injection.harness import Clock, Stack, Tally, many_jobs, moto_stack
from tests.faults import Storm, storm_on

T0 = datetime(2026, 3, 2, 0, 59, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


# --- shared pieces ----------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _batch(stack: Stack, seed: int, slept: list[float] | None = None) -> tuple[Batch, Any]:
    """A patient Batch adapter whose SubmitJob client has no botocore retries (as in
    `aws.batch_submit`), so faults on it meet batchcron's own retry logic."""
    submit_client = stack.client("batch", retries={"mode": "standard", "total_max_attempts": 1})
    batch = Batch(
        stack.client("batch", retries={"mode": "standard", "max_attempts": 5}),
        submit_client=submit_client,
        sleep=(slept if slept is not None else []).append,
        seed=seed,
    )
    return batch, submit_client


def _dispatcher(
    stack: Stack,
    clock: Clock,
    batch: Batch,
    *,
    store: RunStore | None = None,
    catalogue: Catalogue | None = None,
    workers: int = 1,
    alerts: list[Run] | None = None,
    deliver: Callable[[Run, Any], bool] | None = None,
) -> Dispatcher:
    store = store or stack.store()
    submitter = Submitter(
        store,
        batch,
        settings(),
        on_alert=(alerts if alerts is not None else []).append,
        clock=clock,
    )
    return Dispatcher(
        catalogue or stack.catalogue,
        store,
        submitter,
        deliver_alert=deliver or (lambda run, job: False),
        workers=workers,
        clock=clock,
    )


class LostAnswer:
    """After Batch carried out a SubmitJob, drop its answer (a read timeout) with probability
    `rate`: the ambiguous failure that a blind retry would turn into a second run."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.dropped = 0
        self._lock = threading.Lock()

    def __call__(self, http_response: Any, **_: Any) -> None:
        if http_response.status_code != 200:
            return
        with self._lock:
            drop = self.random.random() < self.rate
            self.dropped += drop
        if drop:
            raise ReadTimeoutError(
                endpoint_url="https://batch.eu-west-2.amazonaws.com/v1/submitjob"
            )

    @contextmanager
    def on(self, client: Any) -> Iterator[LostAnswer]:
        client.meta.events.register("after-call.batch.SubmitJob", self)
        try:
            yield self
        finally:
            client.meta.events.unregister("after-call.batch.SubmitJob", self)


def _exactly_once(tally: Tally, stack: Stack, expected: set[str]) -> Counter[str]:
    """Count, against Batch itself, which expected runs ran once, twice or never."""
    names = stack.names()
    tally.done = sum(1 for name in expected if names[name] == 1)
    tally.duplicates = sum(count - 1 for count in names.values() if count > 1)
    tally.lost = sum(1 for name in expected if names[name] == 0)
    tally.detail["unexpected_runs"] = sum(1 for name in names if name not in expected)
    return names


def _recorded_as_submitted(stack: Stack, expected: set[str]) -> int:
    """How many expected runs the run store records as submitted, with Batch's job id."""
    ids = {job["jobName"]: job["jobId"] for job in stack.batch_jobs()}
    store = stack.store()
    good = 0
    for name in expected:
        run = store.get_run(name.rsplit("-", 1)[0], name)
        good += bool(run and run.status == Status.SUBMITTED and run.batch_job_id == ids.get(name))
    return good


# --- SubmitJob throttling storms and transient 5xx -------------------------------------------


def submit_storm(seed: int = 11, jobs: int = 40) -> Tally:
    """40 runs due in one slot while SubmitJob is throttled (35%), answers 500 (10%, not carried
    out) or loses its answer after Batch carried it out (15%) → every run submitted once."""
    tally = Tally("SubmitJob throttling storm + transient 5xx", seed, expected=jobs)
    with moto_stack(many_jobs(jobs, "0 1 * * *", extra="concurrency: allow")) as stack:
        clock = Clock(T0)
        slept: list[float] = []
        batch, submit_client = _batch(stack, seed, slept)
        alerts: list[Run] = []
        dispatcher = _dispatcher(stack, clock, batch, alerts=alerts)
        dispatcher.tick(T0)
        throttle = Storm("SubmitJob", rate=0.35, seed=seed)
        errors = Storm("SubmitJob", rate=0.1, seed=seed + 1, error="ServerException", status=500)
        expected = {run_name(f"job-{i:03d}", T0 + MINUTE, precise=False) for i in range(jobs)}
        ticks = failed_ticks = 0
        with (
            storm_on(submit_client, throttle),
            storm_on(submit_client, errors),
            LostAnswer(0.15, seed + 2).on(submit_client) as lost_answers,
        ):
            while ticks < 10:
                clock.now = T0 + MINUTE * (ticks + 1)
                ticks += 1
                try:
                    dispatcher.tick(clock.now)
                except TickFailedError:
                    failed_ticks += 1
                if _recorded_as_submitted(stack, expected) == len(expected):
                    break
        tally.attempted = errors.calls  # every SubmitJob call passes this hook first
        tally.faults = throttle.failed + errors.failed + lost_answers.dropped
        _exactly_once(tally, stack, expected)
        tally.detail.update(
            submit_calls=errors.calls,  # the first hook: it sees every call
            throttled=throttle.failed,
            server_errors=errors.failed,
            answers_lost=lost_answers.dropped,
            backoff_sleeps=len(slept),
            ticks=ticks,
            failed_ticks=failed_ticks,
            submit_failed_alerts=len(alerts),
            recorded_submitted=_recorded_as_submitted(stack, expected),
        )
    return tally


# --- DynamoDB conditional-check races between two dispatchers -------------------------------


class ConditionalFailures:
    """Counts ConditionalCheckFailed answers on a DynamoDB client, and widens race windows by
    delaying each write a little (seeded)."""

    def __init__(self, seed: int, max_delay: float = 0.004) -> None:
        self.random = random.Random(seed)
        self.max_delay = max_delay
        self.failed = 0
        self.writes = 0
        self._lock = threading.Lock()

    def delay(self, **_: Any) -> None:
        with self._lock:
            pause = self.random.uniform(0, self.max_delay)
            self.writes += 1
        time.sleep(pause)

    def after(self, parsed: Any, **_: Any) -> None:
        if parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            with self._lock:
                self.failed += 1

    def attach(self, client: Any) -> None:
        for operation in ("PutItem", "UpdateItem"):
            client.meta.events.register(f"before-call.dynamodb.{operation}", self.delay)
            client.meta.events.register(f"after-call.dynamodb.{operation}", self.after)


def dispatcher_race(seed: int = 23, jobs: int = 30, minutes: int = 30) -> Tally:
    """Two dispatchers tick at the same moment every minute for half an hour (30 jobs every
    5 minutes, writes jittered to widen the races) → one submission per slot."""
    tally = Tally("DynamoDB conditional-check races, two dispatchers", seed)
    catalogue = many_jobs(jobs, "*/5 * * * *", extra="concurrency: allow")
    with moto_stack(catalogue) as stack:
        clock = Clock(T0)
        watchers = [ConditionalFailures(seed + i) for i in range(2)]
        rivals = []
        for i, watcher in enumerate(watchers):
            client = stack.client("dynamodb", retries={"mode": "standard", "max_attempts": 5})
            watcher.attach(client)
            batch, _ = _batch(stack, seed + i)
            rivals.append(_dispatcher(stack, clock, batch, store=stack.store(client), workers=4))
        rivals[0].tick(T0)
        outcomes: Counter[str] = Counter()
        errors: list[BaseException] = []
        for minute in range(1, minutes + 1):
            clock.now = T0 + MINUTE * minute
            barrier = threading.Barrier(len(rivals))

            def go(dispatcher: Dispatcher, now: datetime, barrier: threading.Barrier) -> None:
                barrier.wait()
                try:
                    result = dispatcher.tick(now)
                except BaseException as exc:  # reported in the tally
                    errors.append(exc)
                    return
                outcomes.update(outcome.action for outcome in result.outcomes)

            threads = [
                threading.Thread(target=go, args=(dispatcher, clock.now, barrier))
                for dispatcher in rivals
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        expected = set()
        for job in stack.catalogue.scheduled():
            for minute in range(1, minutes + 1):
                slot = T0 + MINUTE * minute
                if slot.minute % 5 == 0:
                    expected.add(run_name(job.name, slot, precise=False))
        tally.attempted = outcomes["submitted"] + outcomes["duplicate"]
        tally.expected = len(expected)
        _exactly_once(tally, stack, expected)
        tally.faults = sum(watcher.failed for watcher in watchers)
        tally.detail.update(
            conditional_check_failures=tally.faults,
            writes=sum(watcher.writes for watcher in watchers),
            submitted_outcomes=outcomes["submitted"],
            duplicate_outcomes=outcomes["duplicate"],
            tick_errors=len(errors),
        )
    return tally


# --- dispatcher crash between claim and submit ---------------------------------------------


class Crash(BaseException):
    """The Lambda died mid-invocation (nothing in batchcron catches this)."""


def dispatcher_crash(seed: int = 31, jobs: int = 20) -> Tally:
    """20 jobs every 15 minutes, ticks every minute for 70 minutes; 30% of submits kill the
    invocation, half of them just before SubmitJob and half just after it (before the run is
    recorded) → every run happens once, none missed."""
    tally = Tally("dispatcher crash between claim and submit", seed)
    catalogue = many_jobs(jobs, "*/15 * * * *", extra="concurrency: allow")
    with moto_stack(catalogue) as stack:
        clock = Clock(T0)
        batch, _ = _batch(stack, seed)
        rng = random.Random(seed)
        crashed: set[str] = set()
        crashes = Counter[str]()
        real_submit = batch.submit

        def submit(spec: JobSpec) -> str:
            if spec.name not in crashed and rng.random() < 0.3:
                crashed.add(spec.name)
                if rng.random() < 0.5:
                    crashes["before_submit"] += 1
                    raise Crash(spec.name)
                real_submit(spec)
                crashes["after_submit"] += 1
                raise Crash(spec.name)
            return real_submit(spec)

        batch.submit = submit  # type: ignore[method-assign]
        dispatcher = _dispatcher(stack, clock, batch)
        dispatcher.tick(T0)
        crashed_ticks = 0
        for minute in range(1, 72):
            clock.now = T0 + MINUTE * minute
            try:
                dispatcher.tick(clock.now)
            except Crash:
                crashed_ticks += 1
        expected = {
            run_name(job.name, T0 + MINUTE * minute, precise=False)
            for job in stack.catalogue.scheduled()
            for minute in range(1, 72)
            if (T0 + MINUTE * minute).minute % 15 == 0
        }
        tally.attempted = tally.expected = len(expected)
        tally.faults = sum(crashes.values())
        _exactly_once(tally, stack, expected)
        store = stack.store()
        statuses = Counter(
            (store.get_run(name.rsplit("-", 1)[0], name) or _missing(name)).status
            for name in expected
        )
        tally.detail.update(
            crashes_before_submit=crashes["before_submit"],
            crashes_after_submit=crashes["after_submit"],
            crashed_ticks=crashed_ticks,
            recorded_submitted=statuses[Status.SUBMITTED],
            recorded_missed=statuses[Status.MISSED],
            redrive_after_minutes=int(REDRIVE_AFTER.total_seconds() // 60),
        )
    return tally


def _missing(name: str) -> Run:
    return Run(job="?", run_id=name, trigger="schedule", status=Status.CLAIMED, created_at="")


# --- an outage of several hours --------------------------------------------------------------

OUTAGE_CATALOGUE = """
defaults:
  concurrency: allow
jobs:
  every-5:
    repository: acme/every-5
    schedule: "*/5 * * * *"
    starting_deadline_minutes: 1
  every-10:
    repository: acme/every-10
    schedule: "*/10 * * * *"
    starting_deadline_minutes: 5
  every-15:
    repository: acme/every-15
    schedule: "*/15 * * * *"
  hourly:
    repository: acme/hourly
    schedule: "0 * * * *"
    starting_deadline_minutes: 30
  hourly-at-7:
    repository: acme/hourly-at-7
    schedule: "7 * * * *"
  two-hourly:
    repository: acme/two-hourly
    schedule: "0 */2 * * *"
    starting_deadline_minutes: 120
  daily-1am:
    repository: acme/daily-1am
    schedule: "0 1 * * *"
  daily-late:
    repository: acme/daily-late
    schedule: "30 4 * * *"
    starting_deadline_minutes: 600
  weekdays:
    repository: acme/weekdays
    schedule: "0 9 * * 1-5"
  london:
    repository: acme/london
    schedule: "30 1 * * *"
    timezone: Europe/London
  monthly:
    repository: acme/monthly
    schedule: "0 0 1 * *"
  weekly:
    repository: acme/weekly
    schedule: "@weekly"
"""


def outage(seed: int = 43, rounds: int = 3) -> Tally:
    """Outages of 2-8 hours at random moments (12 jobs, schedules from every 5 minutes to
    monthly) → per job only the latest slot runs, when within its starting deadline; every
    older slot is counted MISSED (the newest 20 per job recorded one by one); a repeated tick
    after the outage adds nothing."""
    from batchcron.catalogue.schedule import slots_between
    from batchcron.scheduling.dispatch import MAX_MISSED_RECORDS

    tally = Tally("outage of several hours", seed)
    rng = random.Random(seed)
    totals = Counter[str]()
    for _ in range(rounds):
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(365 * 24 * 60))
        end = start + timedelta(minutes=rng.randrange(120, 8 * 60 + 1))
        with moto_stack(OUTAGE_CATALOGUE) as stack:
            clock = Clock(start)
            batch, _ = _batch(stack, seed)
            alerts: list[Run] = []
            dispatcher = _dispatcher(stack, clock, batch, workers=4, alerts=alerts)
            dispatcher.tick(start)
            clock.now = end
            result = dispatcher.tick(end)
            again = dispatcher.tick(end)  # a duplicate tick after the outage
            expected_runs: set[str] = set()
            store = stack.store()
            for job in stack.catalogue.scheduled():
                slots = slots_between(job.schedule or "", job.timezone, start, end)
                if not slots:
                    continue
                totals["slots"] += len(slots)
                latest = slots[-1]
                runs = end - latest <= timedelta(minutes=job.starting_deadline_minutes)
                if runs:
                    expected_runs.add(run_name(job.name, latest, precise=False))
                missed = slots[:-1] if runs else slots
                totals["missed_expected"] += len(missed)
                for slot in missed[-MAX_MISSED_RECORDS:]:
                    record = store.get_run(job.name, run_name(job.name, slot, precise=False))
                    totals["missed_recorded"] += bool(record and record.status == Status.MISSED)
                    totals["missed_to_record"] += 1
            names = stack.names()
            totals["ran_once"] += sum(1 for name in expected_runs if names[name] == 1)
            totals["expected_runs"] += len(expected_runs)
            totals["duplicates"] += sum(count - 1 for count in names.values() if count > 1)
            totals["not_run"] += sum(1 for name in expected_runs if names[name] == 0)
            totals["ran_but_should_not"] += sum(1 for name in names if name not in expected_runs)
            totals["missed_counted"] += result.missed
            totals["missed_alerts"] += sum(1 for run in alerts if run.status == Status.MISSED)
            totals["repeat_tick_actions"] += len(again.outcomes)
            totals["outage_minutes"] += int((end - start).total_seconds() // 60)
    tally.attempted = tally.expected = totals["slots"]
    tally.faults = rounds
    tally.duplicates = totals["duplicates"] + totals["ran_but_should_not"]
    tally.lost = totals["not_run"] + (totals["missed_to_record"] - totals["missed_recorded"])
    tally.done = totals["ran_once"] + totals["missed_counted"]
    tally.detail.update(
        outages=rounds,
        outage_minutes=totals["outage_minutes"],
        latest_slots_run=totals["ran_once"],
        latest_slots_expected=totals["expected_runs"],
        missed_counted=totals["missed_counted"],
        missed_expected=totals["missed_expected"],
        missed_recorded=totals["missed_recorded"],
        missed_alerts=totals["missed_alerts"],
        repeat_tick_actions=totals["repeat_tick_actions"],
    )
    return tally


# --- webhook fuzz ------------------------------------------------------------------------------

FUZZ_CATALOGUE = """
jobs:
  fuzz-builder:
    repository: digital-land/entity-builder
    script: builder
    concurrency: allow
    on_push: {}
"""
WEBHOOK_SECRET = "local-webhook-secret"
KINDS = {
    "valid": 15,
    "redelivery": 5,
    "ping": 4,
    "unsigned": 10,
    "wrong_secret": 10,
    "wrong_prefix": 8,
    "tampered": 10,
    "garbage": 20,
    "signed_garbage": 12,
    "wrong_route": 3,
}


def webhook_fuzz(seed: int = 53, requests: int = 300) -> Tally:
    """Random bodies, headers and signatures through the webhook handler, with a share of
    genuinely signed pushes and redeliveries among them → never a 5xx; Batch holds exactly one
    run per valid new delivery and nothing else."""
    from batchcron.handlers.webhook import handler
    from batchcron.local.functions import LocalContext
    from batchcron.pushes.signature import sign

    tally = Tally("webhook fuzz", seed)
    rng = random.Random(seed)
    sample = load_event("github_push.json")
    payload = fresh_push_payload()  # a push over 72 hours old starts nothing
    statuses: Counter[int] = Counter()
    kinds: Counter[str] = Counter()
    valid_refs: list[str] = []
    delivered: list[tuple[str, bytes]] = []
    with moto_stack(FUZZ_CATALOGUE) as stack:
        for i in range(requests + 2):
            kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
            if i >= requests:
                kind = "oversize"
            elif kind == "redelivery" and not delivered:
                kind = "valid"
            kinds[kind] += 1
            headers = {
                "content-type": "application/json",
                "x-github-event": "push",
                "x-github-hook-id": "512345678",
                "x-github-delivery": _uuid(rng),
            }
            path, method = "/github", "POST"
            body: bytes
            if kind in ("valid", "wrong_route"):
                push = copy.deepcopy(payload)
                push["after"] = f"{rng.getrandbits(160):040x}"
                body = json.dumps(push).encode()
                headers["x-hub-signature-256"] = sign(WEBHOOK_SECRET, body)
                if kind == "valid":
                    valid_refs.append(push["after"])
                    delivered.append((headers["x-github-delivery"], body))
                else:
                    path, method = rng.choice([("/other", "POST"), ("/github", "GET")])
            elif kind == "redelivery":
                headers["x-github-delivery"], body = rng.choice(delivered)
                headers["x-hub-signature-256"] = sign(WEBHOOK_SECRET, body)
            elif kind == "ping":
                body = json.dumps({"zen": "Keep it simple.", "hook_id": 512345678}).encode()
                headers["x-github-event"] = "ping"
                headers["x-hub-signature-256"] = sign(WEBHOOK_SECRET, body)
            elif kind == "oversize":
                body = b"{" + b" " * (5 * 1024 * 1024) + b"}"
                headers["x-hub-signature-256"] = sign(WEBHOOK_SECRET, body)
            else:
                body, headers = _forged(kind, rng, payload, headers)
            event = _function_url_event(sample, body, headers, path, method, rng)
            try:
                response = handler(event, LocalContext("WebhookFunction"))
                status = int(response["statusCode"])
            except Exception:  # Lambda would answer 502 for a crashed handler
                status = 599
            statuses[status] += 1
        jobs = stack.batch_jobs()
        refs = Counter(_git_ref(job) for job in _described(stack, jobs))
    tally.attempted = requests + 2
    tally.expected = len(valid_refs)
    tally.faults = requests + 2 - kinds["valid"] - kinds["redelivery"] - kinds["ping"]
    tally.done = sum(1 for ref in valid_refs if refs[ref] == 1)
    tally.duplicates = sum(count - 1 for count in refs.values() if count > 1)
    tally.lost = sum(1 for ref in valid_refs if refs[ref] == 0)
    tally.detail.update(
        server_errors=sum(count for status, count in statuses.items() if status >= 500),
        submissions_without_valid_signature=sum(
            count for ref, count in refs.items() if ref not in set(valid_refs)
        ),
        valid_pushes=len(valid_refs),
        redeliveries=kinds["redelivery"],
        **{f"status_{status}": count for status, count in sorted(statuses.items())},
    )
    return tally


def _forged(
    kind: str, rng: random.Random, payload: dict[str, Any], headers: dict[str, str]
) -> tuple[bytes, dict[str, str]]:
    """A request that must not verify (or, for signed garbage, must not parse)."""
    from batchcron.pushes.signature import sign

    body = json.dumps(payload).encode()
    if kind == "unsigned":
        return body, headers
    if kind == "wrong_secret":
        secret = "".join(rng.choice("abcdefghij0123456789") for _ in range(rng.randrange(0, 24)))
        return body, {**headers, "x-hub-signature-256": sign(secret, body)}
    if kind == "wrong_prefix":
        digest = sign(WEBHOOK_SECRET, body).split("=", 1)[1]
        prefix = rng.choice(["sha1=", "SHA256=", "sha256 =", "sha512=", "", "sha256=sha256="])
        return body, {**headers, "x-hub-signature-256": prefix + digest}
    if kind == "tampered":
        signature = sign(WEBHOOK_SECRET, body)
        data = bytearray(body)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data), {**headers, "x-hub-signature-256": signature}
    if kind == "signed_garbage":
        garbage = rng.choice(
            [
                rng.randbytes(rng.randrange(0, 512)),
                json.dumps({"ref": rng.random(), "repository": None}).encode(),
                json.dumps([1, 2, 3]).encode(),
                b"",
                b"null",
            ]
        )
        event = rng.choice(["push", "push", "", "issues", "../../etc", "x" * 80])
        return garbage, {
            **headers,
            "x-github-event": event,
            "x-hub-signature-256": sign(WEBHOOK_SECRET, garbage),
        }
    # garbage: random bytes, random headers, random signature
    noise = rng.randbytes(rng.randrange(0, 2048))
    random_headers = {
        rng.choice(
            [
                "x-hub-signature-256",
                "x-github-event",
                "x-github-delivery",
                "x-github-hook-id",
                "content-type",
                "x-hub-signature",
            ]
        ): rng.choice(
            [
                rng.randbytes(rng.randrange(0, 40)).decode("latin-1"),
                "sha256=" + rng.randbytes(32).hex(),
                "push",
                "ping",
                "",
            ]
        )
        for _ in range(rng.randrange(0, 6))
    }
    return noise, {**headers, **random_headers}


def _function_url_event(
    sample: dict[str, Any],
    body: bytes,
    headers: dict[str, str],
    path: str,
    method: str,
    rng: random.Random,
) -> dict[str, Any]:
    event = copy.deepcopy(sample)
    if rng.random() < 0.3:
        headers = {name.upper(): value for name, value in headers.items()}
    event["headers"] = {**headers, "content-length": str(len(body))}
    event["rawPath"] = path
    event["requestContext"]["http"].update(path=path, method=method)
    if rng.random() < 0.3:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = body.decode("utf-8", "replace"), False
    return event


def _described(stack: Stack, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    client = stack.client("batch")
    ids = [job["jobId"] for job in jobs]
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 100):
        found.extend(client.describe_jobs(jobs=ids[start : start + 100])["jobs"])
    return found


def _git_ref(job: dict[str, Any]) -> str:
    for item in job.get("container", {}).get("environment", []):
        if item["name"] == "GIT_REF":
            return str(item["value"])
    return ""


# --- duplicated, reordered and late Batch state events --------------------------------------

STATE_CATALOGUE = """
jobs:
  alpha:
    repository: acme/alpha-collection
  beta:
    repository: acme/beta-collection
  gamma:
    repository: acme/gamma-collection
    notify: {still_failing_every: 2}
  delta:
    repository: acme/delta-collection
    notify: {recovered: false}
"""
FIXED = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _run_events(
    job: str | None, index: int, final: str, attempts: int, rng: random.Random
) -> list[dict[str, Any]]:
    """One run's events in Batch's order (each failed attempt retried, then `final`)."""
    from tests.batch_events import batch_event

    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=index)
    name = job or "foreign"
    kwargs: dict[str, Any] = {
        "job": job,
        "run_id": f"{name}-{start:%Y%m%dT%H%M%S}",
        "job_id": _uuid(rng),
        "max_attempts": attempts,
        "start": start,
        "repository": f"{name}-collection",
    }
    if job is None:
        kwargs["job_name"] = f"foreign-collection-{start:%Y%m%d}"
    events = []
    for attempt in range(attempts):
        for status in ("RUNNABLE", "STARTING", "RUNNING"):
            events.append(batch_event(status, attempt, **kwargs))
    exit_code = 0 if final == "SUCCEEDED" else 2
    events.append(batch_event(final, attempts, exit_code=exit_code, **kwargs))
    return events


def state_events(seed: int = 61, runs_per_job: int = 6) -> Tally:
    """Each job's runs (random outcomes, 1-2 attempts) recorded twice: in order and once each
    (reference), then shuffled within each run, 30% duplicated, with late copies of finished
    runs' events (terminal ones included) mixed into later runs and a late burst at the end
    (chaos) → every run's final record, every job's state and the alerts Slack got are equal."""
    from batchcron.catalogue.loading import parse_catalogue
    from tests.fault_injection.fake_slack import FakeSlack

    tally = Tally("duplicated, reordered and late state events", seed)
    rng = random.Random(seed)
    catalogue = parse_catalogue(STATE_CATALOGUE)
    per_job: dict[str | None, list[list[dict[str, Any]]]] = {}
    for job in [*catalogue.jobs, None]:
        per_job[job] = [
            _run_events(
                job,
                index,
                rng.choice(["FAILED", "FAILED", "SUCCEEDED"]),
                rng.choice([1, 2]),
                rng,
            )
            for index in range(runs_per_job)
        ]
    in_order = [event for runs in per_job.values() for run in runs for event in run]
    chaos, injected = _chaos(per_job, rng)

    with moto_stack(STATE_CATALOGUE) as stack, FakeSlack() as ref_slack, FakeSlack() as slack:
        reference = _recorder(stack, "reference", ref_slack.url, catalogue)
        shuffled = _recorder(stack, "chaos", slack.url, catalogue)
        for event in in_order:
            reference.record_event(from_batch(event, reference.store))
        for event in chaos:
            shuffled.record_event(from_batch(event, shuffled.store))
        # The timeline's RUNNABLE and STARTING times are the first such event that applied
        # (Batch's events carry no timestamp of those): the one field order may change.
        unordered = {"runnable_at": None, "starting_at": None}
        ref_runs = {
            run.run_id: run.model_copy(update=unordered) for run in _all_runs(reference.store)
        }
        got_runs = {
            run.run_id: run.model_copy(update=unordered) for run in _all_runs(shuffled.store)
        }
        same = sum(1 for run_id, run in ref_runs.items() if got_runs.get(run_id) == run)
        ref_states = {s.job: s for s in reference.store.all_job_states()}
        got_states = {s.job: s for s in shuffled.store.all_job_states()}
        ref_alerts = Counter((r.run_id, r.headline) for r in ref_slack.received)
        got_alerts = Counter((r.run_id, r.headline) for r in slack.received)
    tally.attempted = len(chaos)
    tally.expected = len(ref_runs)
    tally.faults = sum(injected.values())
    tally.done = same
    tally.duplicates = sum(count - 1 for count in got_alerts.values() if count > 1)
    tally.lost = (
        (len(ref_runs) - same)
        + sum(1 for job, state in ref_states.items() if got_states.get(job) != state)
        + sum((ref_alerts - got_alerts).values())
    )
    tally.detail.update(
        runs=len(ref_runs),
        events_in_order=len(in_order),
        **injected,
        records_equal=same,
        job_states_equal=sum(1 for job, s in ref_states.items() if got_states.get(job) == s),
        job_states=len(ref_states),
        alerts_reference=sum(ref_alerts.values()),
        alerts_chaos=sum(got_alerts.values()),
        alerts_unexpected=sum((got_alerts - ref_alerts).values()),
    )
    return tally


def _chaos(
    per_job: dict[str | None, list[list[dict[str, Any]]]], rng: random.Random
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Per job, each run's events shuffled, some duplicated, with late copies of earlier runs'
    events mixed in; the jobs' streams interleaved at random; a late burst at the end. A job's
    runs still end in their order (the failure streak is counted in that order)."""
    injected: Counter[str] = Counter()
    streams: list[list[dict[str, Any]]] = []
    everything: list[dict[str, Any]] = []
    for runs in per_job.values():
        stream: list[dict[str, Any]] = []
        finished: list[dict[str, Any]] = []
        for events in runs:
            block = list(events)
            for event in events:
                if rng.random() < 0.3:
                    block.append(event)
                    injected["duplicated"] += 1
            if finished:
                for _ in range(rng.randrange(0, 3)):
                    block.append(rng.choice(finished))
                    injected["late"] += 1
            before = list(block)
            rng.shuffle(block)
            injected["reordered_runs"] += block != before
            stream.extend(block)
            finished.extend(events)
        streams.append(stream)
        everything.extend(finished)
    merged: list[dict[str, Any]] = []
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        merged.append(stream.pop(0))
    burst = [rng.choice(everything) for _ in range(20)]
    injected["late"] += len(burst)
    return merged + burst, injected


def _recorder(stack: Stack, name: str, slack_url: str, catalogue: Catalogue) -> Any:
    """A Recorder on its own table (same key schema) whose alerts go to `slack_url`."""
    from batchcron.adapters.slack import Slack
    from batchcron.local.provision import table_definition
    from batchcron.outcomes.notify import Notifier
    from batchcron.outcomes.record import Recorder

    table = f"batchcron-{name}-RunsTable"
    stack.client("dynamodb").create_table(TableName=table, **table_definition())
    store = RunStore(table, stack.client("dynamodb"))
    notifier = Notifier(
        store,
        settings(),
        catalogue=lambda: catalogue,
        secret=lambda arn: slack_url,
        slack=Slack(timeout=2, retries=0, backoff=0),
        clock=lambda: FIXED,
    )
    return Recorder(catalogue, store, notifier, clock=lambda: FIXED)


def _all_runs(store: RunStore) -> list[Run]:
    """Every run item in the table (a scan: the campaign's tables are small)."""
    from batchcron.store.items import _de

    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": store.table}
    while True:
        response = store.client.scan(**request)
        items.extend(_de(item) for item in response.get("Items", []))
        if not response.get("LastEvaluatedKey"):
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    runs = []
    for item in items:
        if "run_id" in item and "status" in item and "trigger" in item:
            runs.append(Run.model_validate(item))
    return runs


# --- Slack down for hours, slow, rate limiting ----------------------------------------------

SLACK_CATALOGUE = """
jobs:
  alpha:
    repository: acme/alpha-collection
  beta:
    repository: acme/beta-collection
  gamma:
    repository: acme/gamma-collection
  delta:
    repository: acme/delta-collection
"""
CLIENT_TIMEOUT = 1  # seconds: the Slack client's, so "too slow" stays cheap to test
SLOW_OK = 0.2  # seconds: slow, but within the client's timeout
TOO_SLOW = 1.5  # seconds: Slack accepts, the client has given up

# (hours after the start, job, outcome) of each run's terminal event
SLACK_TIMELINE: list[tuple[float, str, str]] = [
    (0.0, "alpha", "FAILED"),
    (0.0, "beta", "FAILED"),
    (0.0, "gamma", "FAILED"),
    (0.0, "delta", "FAILED"),
    (1.0, "alpha", "FAILED"),
    (1.0, "beta", "FAILED"),
    (1.0, "gamma", "SUCCEEDED"),
    (2.5, "delta", "FAILED"),
    (3.5, "gamma", "FAILED"),
    (4.5, "alpha", "SUCCEEDED"),
    (6.0, "beta", "SUCCEEDED"),
    (6.0, "delta", "SUCCEEDED"),
]
# Slack's condition from each moment on (hours)
SLACK_PHASES: list[tuple[float, str, float]] = [
    (0.0, "drop", 0.0),  # unreachable: connections closed unanswered
    (2.0, "503", 0.0),
    (4.0, "429", 0.0),  # one tick: slack_sdk sleeps up to a second per 429 before its retry
    (4.5, "slow", SLOW_OK),
    (6.0, "slow", TOO_SLOW),
    (6.5, "ok", 0.0),
]


def slack_outage(seed: int = 71) -> Tally:
    """Failures and recoveries over seven hours while Slack is unreachable (2 h), answering 503
    (2 h), 429 (30 min), slow (1.5 h), too slow for the client (30 min), then fine; the job-state
    function fails when Slack does not take an alert (Lambda retries it twice) and the
    dispatcher re-sends pending alerts every 30 minutes → every record written; every alert
    delivered after recovery; none sent again once Slack acknowledged it, even when every event
    is delivered again afterwards."""
    from batchcron.adapters.slack import Slack, SlackError
    from batchcron.catalogue.loading import parse_catalogue
    from batchcron.outcomes.notify import Notifier
    from batchcron.outcomes.record import Recorder
    from tests.fault_injection.fake_slack import FakeSlack

    tally = Tally("Slack down for hours, 503, 429, slow", seed)
    rng = random.Random(seed)
    catalogue = parse_catalogue(SLACK_CATALOGUE)
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    index: Counter[str] = Counter()
    timeline: list[tuple[datetime, list[dict[str, Any]]]] = []
    for hours, job, final in SLACK_TIMELINE:
        index[job] += 1
        events = _run_events(job, index[job] + 10 * list(catalogue.jobs).index(job), final, 1, rng)
        timeline.append((start + timedelta(hours=hours), events))
    counts: Counter[str] = Counter()
    with FakeSlack() as slack, moto_stack(SLACK_CATALOGUE) as stack:
        clock = Clock(start)
        store = stack.store()
        notifier = Notifier(
            store,
            settings(),
            catalogue=lambda: catalogue,
            secret=lambda arn: slack.url,
            slack=Slack(timeout=CLIENT_TIMEOUT, retries=1, backoff=0),
            clock=clock,
        )
        recorder = Recorder(catalogue, store, notifier, clock=clock)
        batch, _ = _batch(stack, seed)
        dispatcher = _dispatcher(stack, clock, batch, catalogue=catalogue, deliver=notifier.deliver)

        def invoke(event: dict[str, Any]) -> None:
            """The job-state function with Lambda's two retries of a failed invocation."""
            for _ in range(3):
                counts["invocations"] += 1
                try:
                    recorder.record_event(from_batch(event, recorder.store))
                    return
                except SlackError:
                    counts["invocations_failed_on_slack"] += 1

        moment = start
        pending = list(timeline)
        while moment <= start + timedelta(hours=7.5):
            clock.now = moment
            hours = (moment - start).total_seconds() / 3600
            mode, delay = next((m, d) for h, m, d in reversed(SLACK_PHASES) if hours >= h)
            slack.set(mode, delay)  # type: ignore[arg-type]
            while pending and pending[0][0] <= moment:
                for event in pending.pop(0)[1]:
                    invoke(event)
            dispatcher.tick(moment)
            counts["ticks"] += 1
            moment += timedelta(minutes=30)
        before_replay = len(slack.received)
        for _, events in timeline:  # every event again, late, after everything was sent
            for event in events:
                invoke(event)
        for _ in range(2):
            clock.now += timedelta(minutes=30)
            dispatcher.tick(clock.now)
        replay_sends = len(slack.received) - before_replay
        runs = [run for run in _all_runs(store) if run.job in catalogue.jobs]
        finals = {run.run_id: run.status.value for run in runs}
        expected_finals = {
            events[-1]["detail"]["tags"]["batchcron:run-id"]: events[-1]["detail"]["status"]
            for _, events in timeline
        }
        alerted = {run.run_id: run.alert for run in runs if run.alert is not None}
    acked: dict[str, int] = Counter()
    timed_out: set[str] = set()
    after_ack = after_timeout = 0
    for received in slack.received:
        accepted = received.status == 200
        if acked[received.run_id]:
            after_ack += 1
        elif received.run_id in timed_out:
            after_timeout += 1
        if accepted and received.delay < CLIENT_TIMEOUT:
            acked[received.run_id] += 1
        elif accepted:
            timed_out.add(received.run_id)
    tally.attempted = counts["invocations"]
    tally.expected = len(alerted)
    tally.faults = sum(1 for r in slack.received if r.status != 200 or r.delay >= CLIENT_TIMEOUT)
    tally.done = sum(1 for run_id in alerted if acked[run_id] == 1)
    tally.duplicates = after_ack
    tally.lost = sum(1 for run_id in alerted if not acked[run_id]) + sum(
        1 for run_id, status in expected_finals.items() if finals.get(run_id) != status
    )
    tally.detail.update(
        runs=len(expected_finals),
        records_written=sum(
            1 for run_id, status in expected_finals.items() if finals.get(run_id) == status
        ),
        alerts_raised=len(alerted),
        alerts_recorded_sent=sum(1 for alert in alerted.values() if alert.state == "sent"),
        slack_posts=len(slack.received),
        posts_refused_or_dropped=sum(1 for r in slack.received if r.status != 200),
        resent_after_client_timeout=after_timeout,
        sends_after_replaying_every_event=replay_sends,
        **counts,
    )
    return tally


CAMPAIGNS: dict[str, Callable[[], Tally]] = {
    "webhook_fuzz": webhook_fuzz,
    "submit_storm": submit_storm,
    "dispatcher_race": dispatcher_race,
    "dispatcher_crash": dispatcher_crash,
    "state_events": state_events,
    "slack_outage": slack_outage,
    "outage": outage,
}
