"""Figure 2, dispatch scaling: AWS API calls per tick (botocore `before-call` hook on the
dispatcher's session) for catalogues of 100, 1,000 and 2,000 jobs (the catalogue's limit,
`MAX_JOBS`) with 0 and 100 of them due, and the tick's CPU time. Each tick goes through the
real handler against the moto server."""

from __future__ import annotations

import resource
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from batchcron.catalogue.loading import MAX_JOBS
from bench.common import CallCounter, MotoServer, Row, command, pointed_at, provision_stack

SIZES = (100, 1_000, MAX_JOBS)
DUE = (0, 100)
FIRST = "2026-03-02T00:59:00Z"
TICK = "2026-03-02T01:00:00Z"


def catalogue(size: int, due: int) -> str:
    """`size` jobs with distinct daily schedules; `due` of them at 01:00, the rest later."""
    lines = ["jobs:"]
    for i in range(size):
        schedule = "0 1 * * *" if i < due else f"{i % 60} {2 + (i // 60) % 22} * * *"
        lines += [
            f"  job-{i:05d}:",
            f"    repository: acme/repo-{i:05d}",
            f'    schedule: "{schedule}"',
        ]
    return "\n".join(lines) + "\n"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(moto: MotoServer, size: int, due: int, jobs_dir: Path) -> dict[str, Any]:
    from batchcron.adapters import aws
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.handlers.dispatch import handler
    from batchcron.local.functions import LocalContext

    env = provision_stack(moto)
    jobs_file = jobs_dir / f"jobs-{size}-{due}.yaml"
    jobs_file.write_text(catalogue(size, due), encoding="utf-8")
    env["JOBS_FILE"] = str(jobs_file)
    counter = CallCounter()
    with pointed_at(moto.endpoint, env):
        aws._session().events.register("before-call", counter)
        load_catalogue()  # parsed once per cold start, not per tick
        handler({"scheduled_time": FIRST}, LocalContext("DispatchFunction"))  # sets the watermark
        counter.reset()
        cpu = _cpu()
        result = handler({"scheduled_time": TICK}, LocalContext("DispatchFunction"))
        cpu = _cpu() - cpu
    return {
        "calls": counter.total(),
        "by_operation": dict(counter.calls),
        "cpu_seconds": cpu,
        "submitted": result.get("submitted", 0),
    }


def _breakdown(calls: dict[str, int]) -> str:
    ordered = Counter(calls).most_common()
    return ", ".join(f"{name.split(':')[1]} {count}" for name, count in ordered)


def run(moto: MotoServer) -> tuple[list[Row], dict[str, Any]]:
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for size in SIZES:
            for due in DUE:
                raw[f"{size}/{due}"] = measure(moto, size, due, Path(tmp))
    rows = []
    for due in DUE:
        base = raw[f"{SIZES[0]}/{due}"]["calls"]
        for size in SIZES:
            found = raw[f"{size}/{due}"]
            flat = found["calls"] == base
            rows.append(
                Row(
                    f"Dispatch: AWS calls per tick, {size:,} jobs, {due} due",
                    f"{found['calls']} ({_breakdown(found['by_operation'])}); "
                    f"{found['submitted']} submitted",
                    f"{base} at {SIZES[0]} jobs, {due} due",
                    f"{found['calls'] / base:.2f}×",
                    "grows with due jobs only — " + ("met" if flat else "**missed**"),
                    f"{command('scaling')}; botocore before-call hook, real handler",
                )
            )
    for due in DUE:
        small = raw[f"{SIZES[0]}/{due}"]["cpu_seconds"]
        large = raw[f"{SIZES[-1]}/{due}"]["cpu_seconds"]
        rows.append(
            Row(
                f"Dispatch: CPU time per tick, {SIZES[-1]:,} jobs, {due} due",
                f"{large * 1000:.0f} ms",
                f"{SIZES[0]} jobs, {due} due: {small * 1000:.0f} ms",
                f"{large / small:.2f}×" if small else "",
                "",
                f"{command('scaling')}; getrusage user+sys of this process around the tick "
                "(moto runs in another process)",
            )
        )
    return rows, raw
