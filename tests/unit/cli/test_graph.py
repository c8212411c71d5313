"""`batchcron graph` and the AFTER column of `batchcron jobs`: what an operator sees."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchcron.catalogue.loading import load_catalogue, parse_catalogue
from batchcron.cli.graph import after_info, after_text, render
from batchcron.models import JobState, iso
from tests.unit.cli.test_cli import _cli_env, run_cli  # noqa: F401  (the CLI's isolation fixture)


def test_graph_of_the_default_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "graph")
    assert code == 0
    assert out.splitlines()[:4] == [
        "local-authority-district",
        "├── entity-builder (after local-authority-district, conservation-area)",
        "│   └── tiles-builder",
        "└── digital-land-builder (after local-authority-district, conservation-area)",
    ]
    assert "conservation-area\n├── entity-builder" in out
    assert "without dependencies: historic-england" in out


def test_graph_marks_when_finished_schedules_and_a_catalogue_without_dependencies() -> None:
    catalogue = parse_catalogue(
        """
jobs:
  aa: {repository: acme/a}
  bb:
    repository: acme/b
    schedule: "0 7 * * *"
    after: {jobs: [aa], when: finished}
"""
    )
    assert render(catalogue).splitlines() == [
        "aa",
        "└── bb [when finished] [also schedule 0 7 * * *]",
    ]
    alone = parse_catalogue("jobs:\n  aa: {repository: acme/a}\n")
    assert "no job runs after another" in render(alone)


def test_after_info_says_what_each_job_waits_for() -> None:
    job = load_catalogue().get("entity-builder")
    now = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    states = {
        "entity-builder": JobState(job="entity-builder"),
        "local-authority-district": JobState(
            job="local-authority-district",
            last_counted_run_id="lad-1",
            last_status="SUCCEEDED",
            last_finished_at="2026-11-29T00:40:00.000Z",
        ),
        "conservation-area": JobState(
            job="conservation-area",
            last_counted_run_id="ca-1",
            last_status="FAILED",
            last_finished_at="2026-11-29T01:42:00.000Z",
        ),
    }
    info = after_info(job, states, now)
    assert info is not None and info["waiting"] == ["conservation-area: FAILED 01:42"]
    assert after_text(info) == "local-authority-district, conservation-area"
    assert after_text(after_info(job, None, now)) == "local-authority-district, conservation-area"
    assert after_text(None) == "-"


def test_jobs_shows_upstreams_and_what_they_wait_for(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchcron.wiring import store

    # Given a daily collection that failed an hour ago
    failed_at = datetime.now(UTC) - timedelta(hours=1)
    store().update_job_state(
        "conservation-area",
        {
            "last_counted_run_id": "conservation-area-1",
            "last_status": "FAILED",
            "last_finished_at": iso(failed_at),
        },
    )
    # When
    code, out, _ = run_cli(capsys, "jobs", "--json")
    # Then
    assert code == 0
    rows = {row["job"]: row for row in json.loads(out)}
    after = rows["entity-builder"]["after"]
    assert after["jobs"] == ["local-authority-district", "conservation-area"]
    assert after["when"] == "succeeded"
    assert f"conservation-area: FAILED {failed_at:%H:%M}" in after["waiting"]
    assert rows["tiles-builder"]["after"]["jobs"] == ["entity-builder"]
    assert rows["parish"]["after"] is None

    code, out, _ = run_cli(capsys, "jobs")
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith("entity-builder\t")]
    assert line.split("\t")[1] == f"waiting: conservation-area FAILED {failed_at:%H:%M}"
    assert rows["entity-builder"]["status"] == line.split("\t")[1]
    # Never run, after a job that has not run this cycle either: waiting, for that job.
    assert rows["tiles-builder"]["status"] == "waiting: entity-builder"


def test_after_cell_says_when_a_wait_is_overdue() -> None:
    job = load_catalogue().get("entity-builder")
    states = {
        "entity-builder": JobState(job="entity-builder"),
        "local-authority-district": JobState(
            job="local-authority-district",
            last_outcome_run_id="lad-1",
            last_outcome_status="SUCCEEDED",
            last_outcome_at="2026-11-29T00:40:00.000Z",
        ),
        "conservation-area": JobState(
            job="conservation-area",
            last_outcome_run_id="ca-1",
            last_outcome_status="FAILED",
            last_outcome_at="2026-11-29T01:42:00.000Z",
        ),
    }
    # Under 24 h since the first upstream run of the cycle finished: waiting, not overdue
    early = after_text(after_info(job, states, datetime(2026, 11, 30, 0, 0, tzinfo=UTC)))
    assert "OVERDUE" not in early
    # Past it: the cell says so, in the alert's words
    late = after_text(after_info(job, states, datetime(2026, 11, 30, 6, 40, tzinfo=UTC)))
    assert late.split("; OVERDUE: ")[-1] == (
        "entity-builder has waited 30 h for conservation-area: FAILED 01:42"
    )
    # A paused job's wait is the operator's own: not overdue
    states["entity-builder"] = JobState(job="entity-builder", paused=True)
    paused = after_info(job, states, datetime(2026, 11, 30, 6, 40, tzinfo=UTC))
    assert paused is not None and paused["overdue"] is None


def test_a_cancelled_run_neither_completes_nor_blocks_a_cycle() -> None:
    from batchcron.catalogue.upstream import decide_from_states

    job = load_catalogue().get("entity-builder")
    now = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    succeeded = JobState(
        job="local-authority-district",
        last_counted_run_id="lad-rerun",
        last_status="CANCELLED",
        last_finished_at="2026-11-29T01:00:00.000Z",
        last_outcome_run_id="lad-1",
        last_outcome_status="SUCCEEDED",
        last_outcome_at="2026-11-29T00:40:00.000Z",
    )
    area = JobState(
        job="conservation-area",
        last_outcome_run_id="ca-1",
        last_outcome_status="SUCCEEDED",
        last_outcome_at="2026-11-29T01:42:00.000Z",
    )
    states = {"local-authority-district": succeeded, "conservation-area": area}
    cycle = decide_from_states(job, states, now)
    assert cycle.complete and cycle.runs == ("lad-1", "ca-1")
    # A state from before last_outcome_* whose last outcome is a cancel: not counted
    old = JobState(
        job="local-authority-district",
        last_counted_run_id="lad-rerun",
        last_status="CANCELLED",
        last_finished_at="2026-11-29T01:00:00.000Z",
    )
    cycle = decide_from_states(job, {**states, "local-authority-district": old}, now)
    assert not cycle.complete and cycle.waiting[0].job == "local-authority-district"
