"""Start lag, the dispatcher's share: slot -> SubmitJob returned, for 1, 100 and 1,000 jobs due
in one slot, through the dispatcher handler against the moto server. The tick is invoked at the
slot (EventBridge Scheduler's own delay is outside batchcron); each run's share is the time from
the invocation to its SubmitJob's answer (a botocore after-call hook). Reference: the same number
of bare sequential `submit_job` calls, the k-th answer's time. Goal: p99 ≤ 2 s at 100 due; at
1,000 due, the 50-per-second SubmitJob limit the only bound (p99 ≤ 1,000 / 50 = 20 s)."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import MotoServer, Row, command, percentile, pointed_at, provision_stack
from bench.fanout import FIRST, SLOT, _bare_requests, _catalogue, _tick

SIZES = (1, 100, 1_000)
SUBMIT_LIMIT = 50.0  # AWS Batch's SubmitJob rate per account and region


class Answers:
    """When each SubmitJob answered (perf_counter), from any worker thread."""

    def __init__(self) -> None:
        self.at: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, **_: Any) -> None:
        with self._lock:
            self.at.append(time.perf_counter())


def _one(moto: MotoServer, jobs: int) -> dict[str, Any]:
    import boto3

    from batchcron.adapters import aws

    with tempfile.TemporaryDirectory(prefix="bench-lag-") as tmp:
        jobs_file = Path(tmp) / "jobs.yaml"
        jobs_file.write_text(_catalogue(jobs), encoding="utf-8")
        env = {**provision_stack(moto), "JOBS_FILE": str(jobs_file)}
        answers = Answers()
        with pointed_at(moto.endpoint, env):
            aws._session().events.register("after-call.batch.SubmitJob", answers)
            _tick(FIRST)
            started = time.perf_counter()
            summary = _tick(SLOT.isoformat())
            shares = [at - started for at in answers.at]
            client = boto3.client("batch")
            bare: list[float] = []
            begun = time.perf_counter()
            for request in _bare_requests(env):
                client.submit_job(**request)
                bare.append(time.perf_counter() - begun)
    return {"jobs": jobs, "shares": shares, "bare": bare, "summary": summary}


def run(moto: MotoServer) -> tuple[list[Row], dict[str, Any]]:
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    for jobs in SIZES:
        found = _one(moto, jobs)
        shares, bare = found["shares"], found["bare"]
        p50, p99 = percentile(shares, 50), percentile(shares, 99)
        bare_p99 = percentile(bare, 99)
        raw[str(jobs)] = {
            "p50": p50,
            "p99": p99,
            "max": max(shares, default=float("nan")),
            "submitted": len(shares),
            "bare_p99": bare_p99,
            "summary": found["summary"],
        }
        if jobs == 100:
            target = f"p99 ≤ 2 s — {'met' if p99 <= 2 else '**missed**'}"
        elif jobs == 1_000:
            bound = jobs / SUBMIT_LIMIT
            target = f"p99 ≤ {bound:g} s (50/s) — {'met' if p99 <= bound else '**missed**'}"
        else:
            target = ""
        rows.append(
            Row(
                figure=f"Start lag, dispatcher's share (slot → SubmitJob returned), {jobs:,} due",
                value=f"p50 {p50 * 1000:,.0f} ms / p99 {p99 * 1000:,.0f} ms ({len(shares):,} runs)",
                reference=f"{jobs:,} sequential bare submit_job calls, p99 answer: "
                f"{bare_p99 * 1000:,.0f} ms",
                ratio=f"{p99 / bare_p99:.2f}×" if bare_p99 else "",
                target=target,
                how=f"{command('lag')}; moto server; botocore after-call hook on SubmitJob, "
                "timed from the tick's invocation at the slot",
            )
        )
    return rows, raw
