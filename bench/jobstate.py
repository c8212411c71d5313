"""Figure 5, job state: Batch state-change events through the job-state handler on the moto
server, for runs batchcron submitted (each run: RUNNABLE, STARTING, RUNNING, then FAILED or
SUCCEEDED, so failed / still failing / recovered alerts go to a fake Slack): events per second,
and DynamoDB calls per event (botocore `before-call` hook) by kind of event."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    CallCounter,
    MotoServer,
    Row,
    command,
    pointed_at,
    provision_stack,
    verdict,
)

JOBS = 10
RUNS_PER_JOB = 6
OUTCOMES = ("FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED", "FAILED", "SUCCEEDED")
# The event's own calls (1 non-terminal, 4 terminal with an alert) plus the status page's cell
# of the run: read and write the job's RECENT item (store/recent.py), or once per job (its first
# cell) read, seed from its runs and put.
NON_TERMINAL_TARGET = 1 + 3
ALERT_TARGET = 4 + 2


def _catalogue() -> str:
    lines = ["jobs:"]
    for i in range(JOBS):
        lines += [f"  job-{i:02d}:", f"    repository: acme/job-{i:02d}-collection"]
    return "\n".join(lines) + "\n"


def run(moto: MotoServer) -> tuple[list[Row], dict[str, Any]]:
    from datetime import UTC, datetime, timedelta

    from batchcron.adapters import aws
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.handlers.job_state import handler
    from batchcron.local.functions import LocalContext
    from batchcron.scheduling.submit import Request, run_name
    from batchcron.wiring import submitter
    from tests.batch_events import batch_event
    from tests.fault_injection.fake_slack import FakeSlack

    per_kind: dict[str, list[int]] = {"non_terminal": [], "terminal_alert": [], "terminal": []}
    secrets_calls = 0
    handler_seconds = 0.0
    events = 0
    with (
        FakeSlack() as slack,
        tempfile.TemporaryDirectory(prefix="bench-jobstate-") as tmp,
    ):
        jobs_file = Path(tmp) / "jobs.yaml"
        jobs_file.write_text(_catalogue(), encoding="utf-8")
        env = {**provision_stack(moto, slack_url=slack.url), "JOBS_FILE": str(jobs_file)}
        with pointed_at(moto.endpoint, env):
            counter = CallCounter()
            aws._session().events.register("before-call", counter)
            catalogue = load_catalogue()
            start = datetime(2026, 3, 2, tzinfo=UTC)
            for index in range(RUNS_PER_JOB):
                for job in catalogue.jobs.values():
                    moment = start + timedelta(days=index)
                    request = Request(
                        job=job,
                        trigger="manual",
                        run_id=run_name(job.name, moment, precise=True),
                    )
                    outcome = submitter().trigger(request)
                    final = OUTCOMES[index % len(OUTCOMES)]
                    lifecycle = [
                        ("RUNNABLE", 0),
                        ("STARTING", 0),
                        ("RUNNING", 0),
                        (final, 1),
                    ]
                    for status, finished in lifecycle:
                        event = batch_event(
                            status,
                            finished,
                            job=job.name,
                            run_id=outcome.run_id,
                            job_id=outcome.batch_job_id or "",
                            max_attempts=1,
                            exit_code=0 if final == "SUCCEEDED" else 1,
                            repository=job.repository_name,
                            start=moment,
                        )
                        counter.reset()
                        began = time.perf_counter()
                        result = handler(event, LocalContext("JobStateFunction"))
                        handler_seconds += time.perf_counter() - began
                        events += 1
                        calls = counter.total("dynamodb")
                        secrets_calls += counter.total("secretsmanager")
                        if status not in ("SUCCEEDED", "FAILED"):
                            per_kind["non_terminal"].append(calls)
                        elif result.get("alert"):
                            per_kind["terminal_alert"].append(calls)
                        else:
                            per_kind["terminal"].append(calls)
    alerts = len(slack.received)
    raw = {
        "events": events,
        "handler_seconds": handler_seconds,
        "per_kind": per_kind,
        "alerts_posted": alerts,
        "secrets_calls": secrets_calls,
    }
    rate = events / handler_seconds
    how = f"{command('jobstate')}; botocore before-call hook, real handler, moto server"

    def row(kind: str, label: str, target: int | None) -> Row:
        calls = per_kind[kind]
        worst = max(calls) if calls else 0
        mean = sum(calls) / len(calls) if calls else 0.0
        return Row(
            f"Job state: DynamoDB calls per {label}",
            f"max {worst}, mean {mean:.2f} ({len(calls)} events)",
            f"target ≤ {target}" if target else "",
            "",
            verdict(worst, target) if target else "",
            how,
        )

    rows = [
        Row(
            "Job state: events per second through the handler",
            f"{rate:.1f}/s ({events} events, {alerts} Slack alerts posted)",
            "one invocation at a time, as one Lambda sandbox",
            "",
            "",
            how + "; handler wall time only",
        ),
        row("non_terminal", "non-terminal event", NON_TERMINAL_TARGET),
        row("terminal_alert", "terminal event with an alert", ALERT_TARGET),
        row("terminal", "terminal event without an alert", None),
    ]
    return rows, raw
