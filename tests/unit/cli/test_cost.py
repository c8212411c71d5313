"""`batchcron cost`, `show`'s cost and timeline, and deadlines in `jobs`/`status`, on moto."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batchcron import models
from batchcron.adapters import terminal as output
from batchcron.cli import main
from batchcron.models import Attempt, Status, iso

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
QUEUE = "arn:aws:batch:eu-west-2:123456789012:job-queue/JobQueue"


@pytest.fixture(autouse=True)
def _cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("BATCHCRON_LOCAL_STATE_DIR", str(tmp_path / "no-local"))
    monkeypatch.delenv("BATCHCRON_STACK", raising=False)
    saved = dict(os.environ)
    output.reset()
    # The CLI puts any non-local target on real time (cli/target.py activate): keep the pin
    # through it, or the runs below would be dated from today's date.
    real_offset = models.set_clock_offset
    models.set_clock(NOW)
    monkeypatch.setattr(models, "set_clock_offset", lambda offset: None)
    yield
    monkeypatch.setattr(models, "set_clock_offset", real_offset)
    models.set_clock(None)
    os.environ.clear()
    os.environ.update(saved)
    output.reset()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def finished_run(job: str, run_id: str, begun: datetime, minutes: int, **fields: Any) -> None:
    from batchcron.models import Run
    from batchcron.wiring import store

    stopped = begun + timedelta(minutes=minutes)
    run = Run(
        job=job,
        run_id=run_id,
        trigger="schedule",
        status=fields.pop("status", Status.SUCCEEDED),
        created_at=iso(begun - timedelta(minutes=2)) or "",
        slot=iso(begun - timedelta(minutes=2)),
        job_queue=QUEUE,
        started_at=iso(begun),
        stopped_at=iso(stopped),
        running_at=iso(begun),
        attempts=[Attempt(started_at=iso(begun), stopped_at=iso(stopped))],
        **fields,
    )
    assert store().claim_run(run)


def test_cost_totals_per_job_as_json(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # entity-builder (2 vCPU / 8 GiB): 30 min = 1800 × (2 × 0.04656 + 8 × 0.00511) / 3600 = $0.067
    finished_run("entity-builder", "entity-builder-1", NOW - timedelta(days=2), 30)
    # parish (1 vCPU / 2 GiB, the catalogue's defaults): a failed hour = 0.04656 + 2 × 0.00511
    finished_run("parish", "parish-1", NOW - timedelta(days=3), 60, status=Status.FAILED)
    finished_run("parish", "parish-old", NOW - timedelta(days=40), 60)  # before --since

    code, out, _ = run_cli(capsys, "cost", "--since", "30d", "-o", "json")

    assert code == 0
    report = json.loads(out)
    rows = {row["job"]: row for row in report["rows"]}
    assert rows["entity-builder"]["usd"] == pytest.approx(0.067)
    assert rows["parish"]["usd"] == pytest.approx(0.05678)
    assert (rows["parish"]["runs"], rows["parish"]["failed"]) == (1, 1)
    assert report["total_usd"] == pytest.approx(0.067 + 0.05678)
    assert report["estimate"] is True and report["currency"] == "USD"


def test_cost_by_day_as_csv_and_a_table_with_a_total(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_run("entity-builder", "entity-builder-1", NOW - timedelta(days=2), 30)
    finished_run("entity-builder", "entity-builder-2", NOW - timedelta(days=1), 30)

    code, out, _ = run_cli(capsys, "cost", "--by", "day", "-o", "csv")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "day,runs,failed,seconds,usd"
    assert lines[1].startswith("2026-11-30,1,0,1800,0.067")
    assert lines[-1] == "TOTAL,2,0,,0.134000"

    code, out, _ = run_cli(capsys, "cost")
    assert "TOTAL" in out and "$0.134" in out


def test_show_has_cost_start_lag_and_timeline(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    finished_run("entity-builder", "entity-builder-1", NOW - timedelta(days=2), 30)

    code, out, _ = run_cli(capsys, "show", "entity-builder-1")
    assert code == 0
    assert "$0.067 (estimate: 1 attempt(s)" in out
    assert "Start lag:" in out and "2m 00s" in out
    assert out.index("slot") < out.index("RUNNING") < out.index("finished")

    code, out, _ = run_cli(capsys, "show", "entity-builder-1", "-o", "json")
    shown = json.loads(out)
    assert shown["cost"]["usd"] == pytest.approx(0.067)
    assert shown["start_lag_seconds"] == 120
    assert [step["step"] for step in shown["timeline"]] == [
        "slot",
        "claimed",
        "RUNNING",
        "finished",
    ]


def test_jobs_and_status_exit_1_while_a_deadline_is_missed(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchcron.wiring import store

    finished_run("entity-builder", "entity-builder-1", NOW - timedelta(days=2), 30)
    code, out, _ = run_cli(capsys, "jobs", "-o", "wide")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("entity-builder"))
    assert "$0.067" in row and "2m 00s / 2m 00s" in row

    store().update_job_state("entity-builder", {"deadline_missed": "2026-12-02T07:00:00.000Z"})

    code, out, _ = run_cli(capsys, "jobs", "--json")
    assert code == 1
    rows = {row["job"]: row for row in json.loads(out)}
    assert rows["entity-builder"]["deadline_missed"] == "missed 2026-12-02 07:00 UTC"
    code, out, _ = run_cli(capsys, "status", "--json")
    assert code == 1
    assert any(row["deadline_missed"] for row in json.loads(out))
