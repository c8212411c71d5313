"""Every CLI table, and local mode's live table and summary, at 60, 80, 120 and 200 columns:
the identifier and the status are whole in every row, no line is wider than the terminal, and
`-o wide` shows every column on one line per row."""

from __future__ import annotations

import functools
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from batchcron.adapters import terminal as output
from batchcron.cli import main
from batchcron.models import Run, Status, iso, set_clock
from tests.unit.cli.test_cli import _cli_env, record_run  # noqa: F401  (the CLI's isolation)

WIDTHS = (60, 80, 120, 200)
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
LONG_ID = "site-of-special-scientific-interest-20261130T000000123"
LONG_REASON = "the previous run of this job is still active in AWS Batch " * 3


def terminal(monkeypatch: pytest.MonkeyPatch, width: int) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, color_system=None)
    monkeypatch.setattr(output, "out", functools.cache(lambda: console))
    return buffer


def rows_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def history(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of long-named jobs, a failed upstream collection and a waiting builder; the one
    clock pinned at NOW (a stack target would set it back to real time)."""
    from batchcron import models
    from batchcron.wiring import store

    set_clock(NOW)
    monkeypatch.setattr(models, "set_clock_offset", lambda offset: None)
    record_run("parish", "parish-20261130T000000", Status.SUCCEEDED, NOW - timedelta(hours=3))
    record_run(
        "site-of-special-scientific-interest",
        LONG_ID,
        Status.SKIPPED,
        NOW - timedelta(hours=1),
        reason=LONG_REASON,
    )
    record_run(
        "conservation-area",
        "conservation-area-20261130T010000",
        Status.FAILED,
        NOW - timedelta(hours=5),
        exit_code=2,
    )
    store().update_job_state(
        "conservation-area",
        {
            "last_counted_run_id": "conservation-area-20261130T010000",
            "last_run_id": "conservation-area-20261130T010000",
            "last_status": "FAILED",
            "last_finished_at": iso(NOW.replace(hour=1, minute=42)),
            "consecutive_failures": 1,
        },
    )


def check(text: str, width: int, must: list[str]) -> None:
    lines = [line for line in text.splitlines() if not line.startswith("dry run:")]  # a note
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    for value in must:
        assert value in text, (width, value, text)


@pytest.mark.parametrize("width", WIDTHS)
def test_status_keeps_job_and_status_whole(
    history: None, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    buffer = terminal(monkeypatch, width)
    assert main(["status"]) == 1  # a job is failing
    text = buffer.getvalue()
    check(
        text,
        width,
        [
            "site-of-special-scientific-interest",
            "SKIPPED",
            "FAILED",
            # the builder held up by the failed collection says so, whole, at any width
            "waiting: conservation-area FAILED 01:42",
        ],
    )
    assert "STATUS" in text and "JOB" in text
    assert "…" not in text.split("1 failing")[0] or "LATEST RUN" not in text or width >= 120
    # a run id is never cut: it is shown whole, or its column is left out
    if "LATEST RUN" in text:
        assert LONG_ID in text


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_keeps_run_id_and_status_whole_and_shortens_the_reason(
    history: None, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    buffer = terminal(monkeypatch, width)
    assert main(["runs"]) == 0
    text = buffer.getvalue()
    check(text, width, [LONG_ID, "parish-20261130T000000", "SKIPPED", "SUCCEEDED", "FAILED"])
    if "REASON" in text:
        assert "…" in text  # free text shrinks with an ellipsis, an id never does
    if width >= 120:
        assert "TRIGGER" in text and "CREATED" in text
    if width >= 200:
        assert "REASON" in text and "JOB" in text
    # One runs table for one job too, without its JOB column.
    buffer = terminal(monkeypatch, width)
    assert main(["runs", "parish"]) == 0
    check(buffer.getvalue(), width, ["parish-20261130T000000", "SUCCEEDED"])
    assert " JOB " not in buffer.getvalue()


@pytest.mark.parametrize("width", WIDTHS)
def test_jobs_keeps_job_and_status_whole(
    history: None, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    buffer = terminal(monkeypatch, width)
    assert main(["jobs"]) == 0
    text = buffer.getvalue()
    check(
        text,
        width,
        ["site-of-special-scientific-interest", "waiting: conservation-area FAILED 01:42"],
    )
    for job in ("historic-england", "tiles-builder", "entity-builder", "green-belt"):
        assert re.search(rf"^{job}\b", text, re.MULTILINE), (job, text)
    cut = [line for line in text.splitlines() if "(0 0 1 * *" in line and "…" not in line]
    assert not [line for line in cut if not line.rstrip().endswith(")") and "*)" not in line]


@pytest.mark.parametrize("width", WIDTHS)
def test_backfill_dry_run_keeps_run_id_and_result_whole(
    history: None, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    buffer = terminal(monkeypatch, width)
    code = main(
        [
            "backfill",
            "site-of-special-scientific-interest",
            "--since",
            "2026-09-01",
            "--until",
            "2026-11-30",
            "--dry-run",
        ]
    )
    assert code == 0
    text = buffer.getvalue()
    check(
        text,
        width,
        ["site-of-special-scientific-interest-20261001T000000", "would run", "RESULT"],
    )


@pytest.mark.parametrize("width", (80, 120))
def test_wide_shows_every_column_without_wrapping(
    history: None, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    buffer = terminal(monkeypatch, width)
    assert main(["runs", "-o", "wide"]) == 0
    header, _, *rows = buffer.getvalue().splitlines()
    for name in ("RUN", "JOB", "TRIGGER", "STATUS", "CREATED", "REASON", "BATCH JOB", "REF"):
        assert name in header
    assert len(rows) == 3  # one line per run, however long
    assert any(" ".join(LONG_REASON.split()) in row for row in rows)
    buffer = terminal(monkeypatch, width)
    assert main(["jobs", "-o", "wide"]) == 0
    lines = buffer.getvalue().splitlines()
    assert len([line for line in lines if line.startswith("parish ")]) == 1
    assert "SCRIPT" in lines[0] and "TIME ZONE" in lines[0]


@pytest.mark.parametrize("width", WIDTHS)
def test_local_live_table_and_summary(width: int) -> None:
    from batchcron.local.view import RunView, summary

    runs = [
        Run(
            job="site-of-special-scientific-interest",
            run_id=LONG_ID,
            trigger="upstream",
            status=Status.CANCELLED,
            created_at=iso(NOW) or "",
        ),
        Run(
            job="parish",
            run_id="parish-20261130T000000",
            trigger="schedule",
            status=Status.SUCCEEDED,
            created_at=iso(NOW) or "",
            exit_code=0,
        ),
    ]
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, color_system=None)
    view = RunView(console, live=False)
    view._runs = runs
    console.print(view._render())
    summary(console, runs, alerts=0, elapsed=3.0)
    text = buffer.getvalue()
    check(text, width, [LONG_ID, "CANCELLED", "SUCCEEDED", "RUN", "STATUS"])
    for cut in ("TRIGGE", "DURATI", "CANCELL", "schedu", "upstre", "EX"):
        assert not re.search(rf"\b{cut}\b", text), cut
    if width >= 80:
        assert "TRIGGER" in text and "upstream" in text


def test_one_job_says_what_it_waits_for_and_each_field_once(
    history: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "entity-builder"]) == 0
    out = capsys.readouterr().out
    assert "waiting for:" in out and "conservation-area: FAILED 01:42" in out
    assert "status:" in out and "waiting: conservation-area FAILED 01:42" in out
    assert len(re.findall(r"^\s+schedule:", out, re.MULTILINE)) == 1
    assert re.search(r"^\s+vcpus:\s+2$", out, re.MULTILINE), out
    assert main(["jobs", "parish"]) == 0
    assert re.search(r"^\s+vcpus:\s+1$", capsys.readouterr().out, re.MULTILINE)


def test_show_lists_the_upstream_runs_that_started_a_run(
    history: None, capsys: pytest.CaptureFixture[str]
) -> None:
    record_run(
        "tiles-builder",
        "tiles-builder-20261130T050000",
        Status.SUCCEEDED,
        NOW - timedelta(hours=1),
        upstream_runs=["entity-builder-20261130T040000"],
    )
    assert main(["show", "tiles-builder-20261130T050000"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^Upstream run:\s+entity-builder-20261130T040000  batchcron show entity-builder-2026",
        out,
        re.MULTILINE,
    ), out


def test_one_unreadable_upstream_state_leaves_every_row_of_status(
    history: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchcron.wiring import store

    store().update_job_state("conservation-area", {"last_finished_at": "not a time"})
    assert main(["status", "--json"]) == 1
    captured = capsys.readouterr()
    import json

    rows = {row["job"]: row for row in json.loads(captured.out)}
    assert {"entity-builder", "parish", "tiles-builder"} <= set(rows)
    assert rows["entity-builder"]["waiting"] is None
    assert "entity-builder: cannot tell what it waits for" in captured.err
