"""Figure 3, fan-out: 1,000 jobs due in one slot through the dispatcher handler against the moto
server, versus 1,000 sequential bare `submit_job` calls with the same requests; then the same
slot with SubmitJob limited to 50 per second by a token bucket that answers
TooManyRequestsException (AWS Batch's account limit): achieved rate, duplicates, lost runs."""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    CallTimer,
    MotoServer,
    Row,
    command,
    pointed_at,
    provision_stack,
    verdict,
)

JOBS = 1_000
LIMIT = 50.0  # SubmitJob per second
# moto on a small machine barely exceeds 50 submits/s, so 50/s hardly binds; this one does.
BINDING_JOBS = 500
BINDING_LIMIT = 20.0
FIRST = "2026-03-02T00:59:00Z"
SLOT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class TokenBucket:
    """`rate` requests per second with a burst of `burst`; the rest are refused with
    TooManyRequestsException before they reach Batch (a botocore before-send hook)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = time.monotonic()
        self.accepted: list[float] = []
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any, **_: Any) -> Any:
        from tests.faults import refusal

        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                self.accepted.append(now)
                return None
            self.refused += 1
        return refusal(request, 429, "TooManyRequestsException")


def _catalogue(jobs: int) -> str:
    lines = ["jobs:"]
    for i in range(jobs):
        lines += [
            f"  job-{i:04d}:",
            f"    repository: acme/repo-{i:04d}",
            '    schedule: "0 1 * * *"',
        ]
    return "\n".join(lines) + "\n"


def _tick(scheduled: str) -> dict[str, Any]:
    from batchcron.handlers.dispatch import handler
    from batchcron.local.functions import LocalContext
    from batchcron.scheduling.dispatch import TickFailedError

    try:
        summary: dict[str, Any] = handler(
            {"scheduled_time": scheduled}, LocalContext("DispatchFunction")
        )
        return summary
    except TickFailedError as exc:
        return {"failed_tick": str(exc)[:200]}


def _names(env: dict[str, str]) -> Counter[str]:
    import boto3

    client = boto3.client("batch")
    names: Counter[str] = Counter()
    request: dict[str, Any] = {
        "jobQueue": env["JOB_QUEUE"],
        "filters": [{"name": "AFTER_CREATED_AT", "values": ["0"]}],
    }
    while True:
        response = client.list_jobs(**request)
        names.update(job["jobName"] for job in response["jobSummaryList"])
        if not response.get("nextToken"):
            return names
        request["nextToken"] = response["nextToken"]


def _bare_requests(env: dict[str, str]) -> list[dict[str, Any]]:
    """The SubmitJob requests the dispatcher makes for the slot, under other names."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.models import Run, Status
    from batchcron.scheduling.submit import Submitter, run_name
    from batchcron.settings import settings

    submitter = Submitter(None, None, settings())  # type: ignore[arg-type]
    requests = []
    for job in load_catalogue().scheduled():
        run = Run(
            job=job.name,
            run_id=run_name(job.name, SLOT, precise=False),
            trigger="schedule",
            status=Status.CLAIMED,
            created_at="",
        )
        request = submitter.spec(job, run).request()
        request["jobName"] = "bare-" + request["jobName"]
        requests.append(request)
    return requests


def _expected(jobs: int) -> set[str]:
    return {f"job-{i:04d}-{SLOT:%Y%m%dT%H%M%S}" for i in range(jobs)}


def _limited(moto: MotoServer, jobs_file: Path, jobs: int, limit: float) -> dict[str, Any]:
    """The slot with SubmitJob limited to `limit`/s; later ticks retry what the first could not
    submit (SUBMIT_FAILED, from the outbox) until every run is in Batch or 5 ticks passed."""
    from batchcron.adapters import aws

    env = {**provision_stack(moto), "JOBS_FILE": str(jobs_file)}
    expected = _expected(jobs)
    bucket = TokenBucket(limit, burst=limit)
    follow_ups = 0
    with pointed_at(moto.endpoint, env):
        _tick(FIRST)
        aws._session().events.register_first("before-send.batch.SubmitJob", bucket)
        started = time.perf_counter()
        first = _tick(SLOT.isoformat())
        seconds = time.perf_counter() - started
        accepted = len(bucket.accepted)
        names = _names(env)
        while any(names[name] == 0 for name in expected) and follow_ups < 5:
            follow_ups += 1
            # later ticks retry SUBMIT_FAILED runs from the outbox, within the deadline
            _tick(f"2026-03-02T01:{follow_ups + 1:02d}:00Z")
            names = _names(env)
    return {
        "jobs": jobs,
        "limit": limit,
        "tick_seconds": seconds,
        "accepted_in_tick": accepted,
        "refused": bucket.refused,
        "rate": accepted / seconds,
        "duplicates": sum(count - 1 for count in names.values() if count > 1),
        "lost": sum(1 for name in expected if names[name] == 0),
        "follow_up_ticks": follow_ups,
        "first_tick": first,
    }


def run(moto: MotoServer) -> tuple[list[Row], dict[str, Any]]:
    import boto3

    from batchcron.adapters import aws

    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        jobs_file = Path(tmp) / "jobs.yaml"
        jobs_file.write_text(_catalogue(JOBS), encoding="utf-8")
        expected = _expected(JOBS)

        # --- unthrottled: the dispatcher against sequential bare calls ----------------------
        env = {**provision_stack(moto), "JOBS_FILE": str(jobs_file)}
        timer = CallTimer()
        with pointed_at(moto.endpoint, env):
            timer.attach(aws._session().events)  # before the clients exist: they copy hooks
            _tick(FIRST)
            timer.reset()
            started = time.perf_counter()
            summary = _tick(SLOT.isoformat())
            tick_seconds = time.perf_counter() - started
            names = _names(env)
            client = boto3.client("batch")
            requests = _bare_requests(env)
            started = time.perf_counter()
            for request in requests:
                client.submit_job(**request)
            bare_seconds = time.perf_counter() - started
        raw["unthrottled"] = {
            "tick_seconds": tick_seconds,
            "bare_seconds": bare_seconds,
            "summary": summary,
            "ran_once": sum(1 for name in expected if names[name] == 1),
            "seconds_in_calls": dict(timer.seconds),
            "calls": dict(timer.calls),
        }

        # --- SubmitJob limited to 50/s, and to a rate that binds harder on this machine ------
        raw["limited"] = _limited(moto, jobs_file, JOBS, LIMIT)
        binding_file = Path(tmp) / "binding.yaml"
        binding_file.write_text(_catalogue(BINDING_JOBS), encoding="utf-8")
        raw["binding"] = _limited(moto, binding_file, BINDING_JOBS, BINDING_LIMIT)

    unthrottled = raw["unthrottled"]
    ratio = unthrottled["tick_seconds"] / unthrottled["bare_seconds"]
    in_calls = unthrottled["seconds_in_calls"]
    calls = unthrottled["calls"]
    own_rate = JOBS / unthrottled["tick_seconds"]
    rows = [
        Row(
            f"Fan-out: {JOBS:,} jobs due in one slot, one tick",
            f"{unthrottled['tick_seconds']:.1f} s ({unthrottled['ran_once']:,} ran once; "
            f"{own_rate:.0f} submits/s)",
            f"{JOBS:,} sequential bare submit_job calls: {unthrottled['bare_seconds']:.1f} s",
            f"{ratio:.2f}×",
            "",
            f"{command('fanout')}; moto server; the tick makes "
            + ", ".join(
                f"{calls.get(service, 0):,} {service} calls ({in_calls.get(service, 0):.1f} s "
                "summed over 8 workers)"
                for service in ("dynamodb", "batch")
            ),
        ),
    ]
    for key in ("limited", "binding"):
        found = raw[key]
        limit = found["limit"]
        rows += [
            Row(
                f"Fan-out at SubmitJob {limit:g}/s ({found['jobs']:,} due): achieved submit rate",
                f"{found['rate']:.1f}/s ({found['accepted_in_tick']:,} accepted in "
                f"{found['tick_seconds']:.1f} s, {found['refused']:,} refused)",
                f"limit {limit:g}/s (token bucket, burst {limit:g}); unthrottled here "
                f"{own_rate:.0f}/s",
                f"{found['rate'] / limit:.2f}",
                verdict(found["rate"] / limit, 0.9, at_most=False),
                f"{command('fanout')}; before-send hook answering TooManyRequestsException",
            ),
            Row(
                f"Fan-out at SubmitJob {limit:g}/s ({found['jobs']:,} due): duplicates / lost",
                f"{found['duplicates']} / {found['lost']}",
                f"{int(found['first_tick'].get('submitted', 0)):,} submitted by the first tick, "
                f"{found['follow_up_ticks']} later tick(s) retrying SUBMIT_FAILED",
                "",
                "0 / 0 — " + ("met" if found["duplicates"] == found["lost"] == 0 else "**missed**"),
                f"{command('fanout')}; Batch's own job list, by run name",
            ),
        ]
    return rows, raw
