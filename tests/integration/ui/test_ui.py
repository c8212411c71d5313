"""The status page against moto: the real source (run store, CloudWatch Logs) and the real
actions (the submit path, the job state, Batch's TerminateJob)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from batchcron.models import Attempt, Run, Status, iso
from batchcron.ui.app import Request, Response, StatusPage
from batchcron.ui.source import Source

PORT = 8321
HOST = {"host": f"127.0.0.1:{PORT}"}


def record(job: str, run_id: str, status: Status, created: datetime, **fields: Any) -> Run:
    from batchcron.wiring import store

    run = Run(
        job=job,
        run_id=run_id,
        trigger="schedule",
        status=status,
        created_at=iso(created) or "",
        **fields,
    )
    assert store().claim_run(run)
    return run


@pytest.fixture
def page(aws_env: Any) -> StatusPage:
    source = Source(region="eu-west-2", log_group=aws_env.log_group, console_links=False)
    return StatusPage(source, port=PORT, token="t0ken")


def get(app: StatusPage, target: str) -> Response:
    response = app.handle(Request.from_target("GET", target, HOST))
    assert response.status in (200, 303), response.body[:400]
    return response


def post(app: StatusPage, path: str, form: str) -> Response:
    return app.handle(Request.from_target("POST", path, HOST, body=form.encode()))


def follow(app: StatusPage, response: Response) -> str:
    assert response.status == 303, response.body[:400]
    return get(app, response.headers["Location"]).body.decode()


def test_the_grid_costs_two_queries_whatever_the_number_of_jobs(page: StatusPage) -> None:
    from batchcron.adapters import aws
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.store.items import _ser
    from batchcron.store.runs import run_item
    from batchcron.wiring import store

    now = datetime.now(UTC)
    for day in range(30):
        created = now - timedelta(days=29 - day)
        record("parish", f"parish-202511{day:02d}", Status.SUCCEEDED, created)
    record("someone-elses", "someone-elses-1", Status.FAILED, now)
    store().update_job_state("someone-elses", {"consecutive_failures": 1})
    # A job whose only run was written by a batchcron from before the RECENT items
    old = next(job for job in load_catalogue().jobs if job != "parish")
    legacy = Run(
        job=old, run_id=f"{old}-1", trigger="schedule", status=Status.FAILED, created_at=iso(now)
    )
    aws.dynamodb().put_item(TableName=store().table, Item=_ser(run_item(legacy)))
    store().update_job_state(old, {"consecutive_failures": 1})
    calls: Counter[str] = Counter()
    aws.dynamodb().meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.update([model.name])
    )

    text = get(page, "/").body.decode()

    jobs = len(load_catalogue().jobs) + 1  # and the foreign one
    # states, every RECENT item, and the runs of the one job without a RECENT item
    assert calls == Counter({"Query": 3})
    assert len(re.findall(r'data-job="[^"]+"', text)) == jobs
    assert text.count('href="/runs/parish/') == 25  # the last 25 of 30
    assert 'href="/runs/parish/parish-20251129"' in text  # the newest
    assert 'href="/runs/parish/parish-20251104"' not in text  # the 26th newest
    assert f'href="/runs/{old}/{old}-1"' in text
    assert "not in catalogue" in text


def test_run_now_submits_through_the_submit_path(aws_env: Any, page: StatusPage) -> None:
    text = follow(page, post(page, "/actions/run", "job=tiles-builder&token=t0ken"))
    flash = re.search(r'id="flash">([^<]+)<', text)
    assert flash and flash.group(1).startswith("submitted tiles-builder-")
    run_id = flash.group(1).split()[1]
    [summary] = boto3.client("batch").list_jobs(jobQueue=aws_env.job_queue, jobStatus="SUCCEEDED")[
        "jobSummaryList"
    ]
    job = boto3.client("batch").describe_jobs(jobs=[summary["jobId"]])["jobs"][0]
    assert job["tags"]["batchcron:run-id"] == run_id
    assert job["tags"]["batchcron:trigger"] == "manual"
    assert f'<tr data-run="{run_id}">' in text


def test_pause_and_resume_change_the_job_state(page: StatusPage) -> None:
    from batchcron.wiring import store

    text = follow(page, post(page, "/actions/pause", "job=parish&token=t0ken"))
    assert 'id="flash">parish paused<' in text and 'id="resume"' in text
    assert store().job_state("parish").paused
    grid = get(page, "/").body.decode()
    row = grid[grid.index('data-job="parish"') :]
    assert 'class="badge paused"' in row[: row.index("</tr>")]

    follow(page, post(page, "/actions/resume", "job=parish&token=t0ken"))
    assert not store().job_state("parish").paused


def test_an_action_that_cannot_be_taken_says_why(page: StatusPage) -> None:
    text = follow(page, post(page, "/actions/pause", "job=nobody&token=t0ken"))
    assert 'class="flash bad"' in text and "unknown job" in text


def test_cancel_drops_a_queued_run(page: StatusPage) -> None:
    from batchcron.wiring import store

    record("parish", "parish-1", Status.QUEUED, datetime.now(UTC))
    # The first click asks: the run page with a confirming form, nothing cancelled yet.
    first = post(page, "/actions/cancel", "job=parish&run_id=parish-1&token=t0ken")
    assert first.headers["Location"] == "/runs/parish/parish-1?confirm=cancel"
    text = follow(page, first)
    assert 'id="cancel-confirm"' in text and 'name="confirm" value="yes"' in text
    assert store().get_run("parish", "parish-1").status == Status.QUEUED  # type: ignore[union-attr]
    # The second click cancels.
    form = "job=parish&run_id=parish-1&confirm=yes&token=t0ken"
    text = follow(page, post(page, "/actions/cancel", form))
    assert "dropped queued run parish-1" in text
    assert 'id="cancel-confirm"' not in text and 'id="cancel"' not in text
    assert store().get_run("parish", "parish-1").status == Status.SUPERSEDED  # type: ignore[union-attr]


def test_run_page_reads_the_last_log_lines(aws_env: Any, page: StatusPage) -> None:
    from batchcron.adapters.joblogs import JobLogs

    stream = "batchcron/default/abc"
    JobLogs().write(
        aws_env.log_group, stream, [(int(time.time() * 1000) + i, f"l{i}") for i in range(250)]
    )
    record(
        "parish",
        "parish-2",
        Status.FAILED,
        datetime.now(UTC),
        exit_code=2,
        reason="Essential container in task exited",
        attempts=[Attempt(exit_code=2, reason="boom", log_stream=stream)],
    )
    text = get(page, "/runs/parish/parish-2").body.decode()
    assert "l249" in text and "l50\n" in text and "l49\n" not in text
    assert '<dd id="exit-code">2</dd>' in text


def test_api_runs_reads_the_store(page: StatusPage) -> None:
    now = datetime.now(UTC)
    record("parish", "parish-a", Status.SUCCEEDED, now - timedelta(minutes=1))
    record("green-belt", "green-belt-b", Status.FAILED, now)
    runs = json.loads(get(page, "/api/runs?limit=5").body)
    assert [r["run_id"] for r in runs] == ["green-belt-b", "parish-a"]
    runs = json.loads(get(page, "/api/runs?job=parish").body)
    assert [r["run_id"] for r in runs] == ["parish-a"]


def test_batchcron_ui_says_when_its_port_is_taken(
    aws_env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import socket

    from batchcron.cli import main

    monkeypatch.setenv("BATCHCRON_LOCAL_STATE_DIR", str(tmp_path))  # no local mode here
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["ui", "--port", str(port), "--no-browser"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
