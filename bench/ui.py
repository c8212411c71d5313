"""Status page: the grid (`GET /`) for 100 jobs with 25 runs each, rendered by the real page
(`batchcron.ui`) reading the run store on the moto server: wall time per render and the
DynamoDB calls it makes (botocore `before-call` hook); then Lighthouse (npm `lighthouse`,
pinned, installed under .node/) against Debian's chromium scores the same grid served on HTTP
for accessibility and performance. Without Node or chromium those rows say why they are empty."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    CallCounter,
    MotoServer,
    Row,
    command,
    median,
    pointed_at,
    provision_stack,
    verdict,
)

JOBS = 100
RUNS = 25
RENDERS = 5
TARGET_SECONDS = 0.5
STATUSES = ("SUCCEEDED",) * 6 + ("FAILED", "SKIPPED")
LIGHTHOUSE = "lighthouse@12.2.3"
CHROMIUM = Path("/usr/bin/chromium")
NODE_DIR = Path(__file__).resolve().parents[1] / ".node"  # git-ignored, as `make node-tools`
SCORE_TARGET = 95
AUDITS = 5  # Lighthouse runs: one score swings by ten points on a shared machine; the median


def _catalogue() -> str:
    lines = ["jobs:"]
    for i in range(JOBS):
        lines += [
            f"  job-{i:03d}:",
            f"    repository: acme/job-{i:03d}-collection",
            f'    schedule: "{i % 60} * * * *"',
        ]
    return "\n".join(lines) + "\n"


def _seed(table: str) -> None:
    from batchcron.adapters import aws
    from batchcron.models import Run
    from batchcron.store.items import _ser
    from batchcron.store.recent import recent_item
    from batchcron.store.runs import run_item

    client: Any = aws.dynamodb()
    start = datetime(2026, 3, 2, tzinfo=UTC)
    items = []
    for i in range(JOBS):
        job = f"job-{i:03d}"
        runs = []
        for n in range(RUNS):
            moment = start + timedelta(hours=n)
            status = STATUSES[(i + n) % len(STATUSES)]
            run = Run(
                job=job,
                run_id=f"{job}-{moment:%Y%m%dT%H%M%S}",
                trigger="schedule",
                status=status,
                created_at=moment.isoformat().replace("+00:00", "Z"),
                started_at=(moment + timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
                stopped_at=(moment + timedelta(minutes=4)).isoformat().replace("+00:00", "Z"),
                exit_code=0 if status == "SUCCEEDED" else 1,
            )
            runs.append(run_item(run))
        items += [{"PutRequest": {"Item": _ser(item)}} for item in runs]
        # what the store's writes leave: the job's newest runs on its RECENT item
        items.append({"PutRequest": {"Item": _ser(recent_item(job, runs))}})
    for first in range(0, len(items), 25):
        request = {table: items[first : first + 25]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


class _Frozen:
    """A source that answers from reads made once: the page's own cost without the store's."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self._catalogue = source.catalogue()
        self._states = source.states()
        self._runs = source.grid_runs(list(self._catalogue.jobs), self._states, RUNS)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def catalogue(self) -> Any:
        return self._catalogue

    def states(self) -> Any:
        return self._states

    def grid_runs(self, jobs: Any, states: Any, limit: int) -> Any:
        return {job: self._runs[job] for job in jobs}


def _time(page: Any, request: Any) -> tuple[list[float], Any]:
    seconds: list[float] = []
    response = None
    for _ in range(RENDERS):
        began = time.perf_counter()
        response = page.handle(request)
        seconds.append(time.perf_counter() - began)
        assert response.status == 200, response.body[:300]
    return seconds, response


def run(moto: MotoServer) -> tuple[list[Row], dict[str, Any]]:
    from batchcron.adapters import aws
    from batchcron.ui.app import Request, StatusPage
    from batchcron.ui.source import Source

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        jobs_file = Path(tmp) / "jobs.yaml"
        jobs_file.write_text(_catalogue(), encoding="utf-8")
        env = {**provision_stack(moto), "JOBS_FILE": str(jobs_file)}
        with pointed_at(moto.endpoint, env):
            _seed(env["RUNS_TABLE"])
            source = Source(region="eu-west-2", log_group=None, console_links=False)
            page = StatusPage(source, port=8321)
            request = Request.from_target("GET", "/", {"host": "127.0.0.1:8321"})
            counter = CallCounter()
            counter.attach(aws.dynamodb())
            load = os.getloadavg()[0]
            page.handle(request)  # warm: templates compiled, catalogue parsed, clients made
            counter.reset()
            seconds, response = _time(page, request)
            calls = {name: count // RENDERS for name, count in counter.calls.items()}
            cells = response.body.count(b'class="cell ')
            size = len(response.body)
            own, _ = _time(StatusPage(_Frozen(source), port=8321), request)  # type: ignore[arg-type]
            audit_load = os.getloadavg()[0]
            runs, why = _lighthouse(StatusPage(_Frozen(source), port=0), Path(tmp))  # type: ignore[arg-type]
    typical, typical_own = median(seconds), median(own)
    raw = {
        "seconds": seconds,
        "own_seconds": own,
        "calls_per_render": calls,
        "bytes": size,
        "lighthouse": runs or why,
    }
    queries = calls.get("dynamodb:Query", 0)
    how = (
        f"{command('ui')}; median of {RENDERS} renders of `GET /` by the real page (no socket; "
        f"load average {load:.1f} on entry)"
    )
    rows = [
        Row(
            f"Status page: grid render, {JOBS} jobs × {RUNS} runs",
            f"{typical:.2f} s ({cells} cells, {size / 1024:.0f} KiB of HTML); "
            f"{queries} DynamoDB Query calls per render, nothing else",
            f"target {TARGET_SECONDS:g} s",
            f"{typical / TARGET_SECONDS:.2f}",
            verdict(typical / TARGET_SECONDS, 1.0),
            how + "; run store on the moto server, every job's newest runs from its RECENT "
            "item; calls by botocore before-call hook",
        ),
        Row(
            f"Status page: grid render, {JOBS} jobs × {RUNS} runs, reads excluded",
            f"{typical_own * 1000:.0f} ms (views + templates)",
            f"target {TARGET_SECONDS:g} s",
            f"{typical_own / TARGET_SECONDS:.2f}",
            verdict(typical_own / TARGET_SECONDS, 1.0),
            how + "; the same runs, read once before timing",
        ),
    ]
    audit = (
        f"{command('ui')}; `{LIGHTHOUSE}` (npm, installed under .node/) against {CHROMIUM} "
        '(CHROME_PATH, --chrome-flags="--headless=new --no-sandbox"), default (mobile) '
        "settings, on `GET /` served on 127.0.0.1 by `batchcron.ui.server`, the same "
        f"{JOBS} jobs × {RUNS} runs; median of {len(runs) if runs else AUDITS} runs; load "
        f"average {audit_load:.1f} before them, {os.getloadavg()[0]:.1f} after"
    )
    for category in ("accessibility", "performance"):
        each = [scores[category] for scores in runs or [] if category in scores]
        score = round(median([float(n) for n in each])) if each else None
        rows.append(
            Row(
                f"Status page: Lighthouse {category}, grid of {JOBS} jobs × {RUNS} runs",
                f"{score} (runs: {', '.join(map(str, each))})"
                if score is not None
                else f"not measured: {why}",
                f"target ≥ {SCORE_TARGET}",
                f"{score / SCORE_TARGET:.2f}" if score is not None else "",
                (
                    f"≥ {SCORE_TARGET} — met"
                    if score >= SCORE_TARGET
                    else f"≥ {SCORE_TARGET} — **missed**"
                )
                if score is not None
                else "",
                audit,
            )
        )
    return rows, raw


def _lighthouse(page: Any, work: Path) -> tuple[list[dict[str, int]] | None, str]:
    """Lighthouse's category scores (0-100) for the grid, one dict a run (`AUDITS` runs, one
    after another), or None and why not."""
    from batchcron.ui.server import serve

    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None, "no Node.js (npm) on PATH"
    if not CHROMIUM.exists():
        return None, f"no {CHROMIUM} (apt-get install chromium)"
    binary = NODE_DIR / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        subprocess.run(
            [npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", LIGHTHOUSE],
            check=False,
            capture_output=True,
        )
    if not binary.exists():
        return None, f"npm could not install {LIGHTHOUSE}"
    server = serve(page, 0)
    runs = []
    try:
        for n in range(AUDITS):
            scores, why = _audit(binary, server.port, work / f"lighthouse-{n}.json")
            if scores is None:
                return None, why
            runs.append(scores)
    finally:
        server.stop()
    return runs, ""


def _audit(binary: Path, port: int, report: Path) -> tuple[dict[str, int] | None, str]:
    """One Lighthouse run's category scores, or None and why not."""
    done = subprocess.run(
        [
            str(binary),
            f"http://127.0.0.1:{port}/",
            "--only-categories=accessibility,performance",
            "--output=json",
            f"--output-path={report}",
            "--chrome-flags=--headless=new --no-sandbox",
            "--quiet",
        ],
        env={**os.environ, "CHROME_PATH": str(CHROMIUM)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not report.exists():
        return None, f"lighthouse exited {done.returncode}: {done.stderr.strip()[-200:]}"
    from bench.common import WORK

    shutil.copyfile(report, WORK / report.name)  # the whole report, to see why
    categories = json.loads(report.read_text())["categories"]
    return {name: round(100 * (value["score"] or 0)) for name, value in categories.items()}, ""
