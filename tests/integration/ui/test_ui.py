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


# --- the operator's view: banners, waiting, pages that follow their runs ----------------------

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def test_a_catalogue_error_is_a_banner_over_the_last_good_grid(
    page: StatusPage, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.catalogue.loading import jobs_file

    good = jobs_file().read_text()
    file = tmp_path / "jobs.yaml"
    file.write_text(good)
    monkeypatch.setenv("JOBS_FILE", str(file))
    assert 'data-job="parish"' in get(page, "/").body.decode()
    # Given one bad job in the catalogue
    file.write_text(good.replace('schedule: "0 1 * * *"', 'schedule: "0 25 * * *"'))
    import os

    os.utime(file, (time.time() + 5, time.time() + 5))
    # Then the grid still answers with every job, under a banner naming the job and field
    for target in ("/", "/grid"):
        body = get(page, target).body.decode()
        assert body.count('id="catalogue-error"') == 1
        banner = body[body.index('id="catalogue-error"') :]
        banner = banner[: banner.index("</div>")]
        assert "job &#39;conservation-area&#39;, field &#39;schedule&#39;" in banner, banner
        assert 'data-job="parish"' in body and 'data-job="entity-builder"' in body
    assert 'id="catalogue-error"' in get(page, "/jobs/parish").body.decode()


def test_a_builder_held_up_by_a_failed_collection_shows_a_waiting_cell(
    page: StatusPage,
) -> None:
    from batchcron.models import set_clock
    from batchcron.wiring import store

    set_clock(NOW)
    run_id = "conservation-area-20261130T010000"
    record("conservation-area", run_id, Status.FAILED, NOW - timedelta(hours=5))
    store().update_job_state(
        "conservation-area",
        {
            "last_counted_run_id": run_id,
            "last_run_id": run_id,
            "last_status": "FAILED",
            "last_finished_at": iso(NOW.replace(hour=1, minute=42)),
        },
    )
    page.clock = lambda: NOW
    body = get(page, "/").body.decode()
    row = body[body.index('data-job="entity-builder"') :]
    row = row[: row.index("</tr>")]
    assert f'<a class="waiting" href="/runs/conservation-area/{run_id}">' in row
    assert "waiting: conservation-area FAILED 01:42" in row and "no runs yet" not in row
    data = {r["job"]: r for r in json.loads(get(page, "/api/status").body)}
    assert data["entity-builder"]["waiting"] == "waiting: conservation-area FAILED 01:42"
    assert data["parish"]["waiting"] is None


def test_run_page_not_started_upstream_links_and_no_cancel_when_over(page: StatusPage) -> None:
    from batchcron.wiring import store

    record(
        "entity-builder",
        "entity-builder-1",
        Status.STARTING,
        NOW,
        batch_job_id="b-1",
        log_stream="batchcron/default/x",
        upstream_runs=["local-authority-district-20261130T000000", "conservation-area-2"],
    )
    body = get(page, "/runs/entity-builder/entity-builder-1").body.decode()
    assert "not started yet" in body and "expired" not in body
    assert 'href="/runs/local-authority-district/local-authority-district-20261130T000000"' in body
    assert 'href="/runs/conservation-area/conservation-area-2"' in body
    assert 'id="cancel"' in body and 'data-terminal="no"' in body and "ui.js" in body
    # Cancel requested: said so, and no second Cancel while Batch's event is on its way
    store().update_run("entity-builder", "entity-builder-1", {"cancel_requested_at": iso(NOW)})
    body = get(page, "/runs/entity-builder/entity-builder-1").body.decode()
    assert 'id="cancel-requested"' in body and 'id="cancel"' not in body
    store().update_run("entity-builder", "entity-builder-1", {"status": "CANCELLED"})
    body = get(page, "/runs/entity-builder/entity-builder-1").body.decode()
    assert 'id="cancel' not in body and 'data-terminal="yes"' in body and "ui.js" not in body


def test_favicon_and_a_404_that_suggests(page: StatusPage) -> None:
    icon = get(page, "/favicon.ico")
    assert icon.content_type == "image/svg+xml" and b"<svg" in icon.body
    assert 'rel="icon"' in get(page, "/").body.decode()
    missing = page.handle(Request.from_target("GET", "/jobs/parsh", HOST))
    assert missing.status == 404 and "did you mean parish" in missing.body.decode()
