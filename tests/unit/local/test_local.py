"""Local mode's parts: Function URL events, Slack rendering, the Batch event synthesizer."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchcron.local.http import function_url_event, lambda_response
from batchcron.local.synth import FailurePlan, Synthesizer
from batchcron.local.ticker import boundary_after
from batchcron.local.view import slack_text

# --- webhook requests -> Function URL events -----------------------------------------------------


def test_a_json_request_becomes_a_function_url_event() -> None:
    event = function_url_event(
        "POST",
        "/github?x=1",
        {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=ab", "Host": "h"},
        b'{"zen": "ok"}',
        "127.0.0.1",
    )
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/github" and event["rawQueryString"] == "x=1"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["headers"]["x-hub-signature-256"] == "sha256=ab"  # lower-cased, as AWS does
    assert event["body"] == '{"zen": "ok"}' and event["isBase64Encoded"] is False


def test_a_binary_body_is_base64_encoded() -> None:
    event = function_url_event(
        "POST", "/github", {"Content-Type": "application/octet-stream"}, b"\xff\x00", "1.2.3.4"
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00"


def test_handler_responses_become_http_responses() -> None:
    status, headers, body = lambda_response(
        {"statusCode": 401, "headers": {"Content-Type": "application/json"}, "body": "{}"}
    )
    assert (status, headers["Content-Type"], body) == (401, "application/json", b"{}")
    assert lambda_response({"ok": True})[0] == 200


# --- Slack sink ----------------------------------------------------------------------------------


def test_slack_block_kit_reads_as_plain_lines() -> None:
    message = {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "parish failed"}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": "*Exit code*\n`2`"}],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "<https://logs.example/x|CloudWatch Logs>"}
                ],
            },
        ],
    }
    assert slack_text(message) == [
        "parish failed",
        "Exit code: 2",
        "CloudWatch Logs (https://logs.example/x)",
    ]
    assert slack_text({"text": "just text"}) == ["just text"]


def test_a_slack_section_of_several_lines_stays_several_lines() -> None:
    text = (
        "*Status reason*\n```Essential container in task exited```\n"
        "blocks: entity-builder (waiting for this job to succeed)"
    )
    message = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
    assert slack_text(message) == [
        "Status reason: Essential container in task exited",
        "blocks: entity-builder (waiting for this job to succeed)",
    ]


# --- outcomes and ticks --------------------------------------------------------------------------


def test_fail_job_n_fails_only_the_first_n_runs() -> None:
    plan = FailurePlan({"a": 1, "b": None})
    assert [plan.decide("a") for _ in range(3)] == [True, False, False]
    assert [plan.decide("b") for _ in range(3)] == [True, True, True]
    assert plan.decide("c") is False


def test_ticks_land_on_real_minutes() -> None:
    assert boundary_after(120.0, 60) == 180.0
    assert boundary_after(121.5, 60) == 180.0


# --- the event synthesizer -----------------------------------------------------------------------


@pytest.fixture
def aws_env(aws_env: Any) -> Iterator[Any]:
    """moto under local mode's hold: submitted jobs stay SUBMITTED until played."""
    from batchcron.local import played

    played.install()
    try:
        yield aws_env
    finally:
        played.uninstall()


def submit(aws_env: Any, job: str = "parish") -> str:
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.scheduling.submit import Request
    from batchcron.wiring import submitter

    outcome = submitter().trigger(
        Request(job=load_catalogue().get(job), trigger="manual", run_id=f"{job}-20250101T000000000")
    )
    assert outcome.batch_job_id
    return outcome.batch_job_id


def synthesizer(aws_env: Any, deliver: Any, failures: dict[str, int | None]) -> Synthesizer:
    from batchcron.adapters.joblogs import JobLogs

    return Synthesizer(
        boto3.client("batch"),
        aws_env.job_queue,
        deliver,
        failures=FailurePlan(failures),
        log_group=aws_env.log_group,
        logs=JobLogs(boto3.client("logs")),
        region="eu-west-2",
        pace=1.0,
        report=pytest.fail,
    )


def play(synth: Synthesizer, seconds: int = 10) -> None:
    for moment in range(seconds * 2):
        synth.step(now=moment / 2)


def test_a_submitted_job_gets_runnable_starting_running_succeeded(aws_env: Any) -> None:
    from batchcron.outcomes.events import parse_event

    events: list[dict[str, Any]] = []
    job_id = submit(aws_env)
    play(synthesizer(aws_env, events.append, {}))

    assert [e["detail"]["status"] for e in events] == [
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
    ]
    for event in events:  # the job-state function's own parser accepts each one
        assert parse_event(event).detail.job_id == job_id
    last = events[-1]
    assert last["source"] == "aws.batch" and last["detail-type"] == "Batch Job State Change"
    assert last["detail"]["tags"]["batchcron:run-id"] == "parish-20250101T000000000"
    [attempt] = last["detail"]["attempts"]
    assert attempt["container"]["exitCode"] == 0
    assert attempt["container"]["logStreamName"] == last["detail"]["container"]["logStreamName"]


def test_fail_makes_the_run_fail_with_a_nonzero_exit_and_log_lines(aws_env: Any) -> None:
    from batchcron.adapters.joblogs import JobLogs

    events: list[dict[str, Any]] = []
    submit(aws_env)
    play(synthesizer(aws_env, events.append, {"parish": 1}))

    last = events[-1]["detail"]
    assert last["status"] == "FAILED"
    assert last["container"]["exitCode"] == 2
    page = JobLogs(boto3.client("logs")).read(aws_env.log_group, last["container"]["logStreamName"])
    assert any("Error 2" in line for _, line in page.lines)


def test_a_terminated_job_ends_failed_with_its_reason(aws_env: Any) -> None:
    events: list[dict[str, Any]] = []
    job_id = submit(aws_env)
    synth = synthesizer(aws_env, events.append, {})
    synth.step(now=0)
    synth.step(now=1)  # RUNNABLE delivered
    boto3.client("batch").terminate_job(jobId=job_id, reason="batchcron: cancelled by me")
    play(synth)

    assert [e["detail"]["status"] for e in events] == ["RUNNABLE", "FAILED"]
    assert events[-1]["detail"]["statusReason"] == "batchcron: cancelled by me"


def test_every_client_sees_a_job_as_local_mode_plays_it(aws_env: Any) -> None:
    from batchcron.adapters.batch import Batch

    job_id = submit(aws_env)
    synth = synthesizer(aws_env, lambda event: None, {})
    other = boto3.client("batch")  # any client, not one batchcron made

    def status() -> str:
        [described] = other.describe_jobs(jobs=[job_id])["jobs"]
        return str(described["status"])

    # moto would have finished the job at once; local mode has not started playing it yet
    assert status() == "SUBMITTED"
    synth.step(now=0)
    synth.step(now=1)
    assert status() == "RUNNABLE"
    assert Batch().describe([job_id])[job_id]["status"] == "RUNNABLE"  # the handlers' adapter
    listed = other.list_jobs(jobQueue=aws_env.job_queue, jobStatus="RUNNABLE")["jobSummaryList"]
    assert [job["jobId"] for job in listed] == [job_id]
    play(synth)
    [done] = other.describe_jobs(jobs=[job_id])["jobs"]
    assert done["status"] == "SUCCEEDED"
    assert done["attempts"][0]["container"]["exitCode"] == 0


@pytest.mark.parametrize(
    "start",
    [datetime(2027, 3, 1, 0, 20, tzinfo=UTC), datetime(2019, 6, 30, 23, 59, tzinfo=UTC)],
    ids=["future", "past"],
)
def test_batch_times_and_log_lines_are_on_local_modes_clock(aws_env: Any, start: datetime) -> None:
    from batchcron.adapters.joblogs import JobLogs
    from batchcron.models import set_clock

    # Given local mode's clock started at `start` (--now), far from real time
    set_clock(start)
    events: list[dict[str, Any]] = []
    job_id = submit(aws_env)
    play(synthesizer(aws_env, events.append, {}))

    # Then Batch's times, in the events and for every client, are on that clock
    soon = start + timedelta(minutes=5)

    def on_clock(millis: int) -> bool:
        return start <= datetime.fromtimestamp(millis / 1000, UTC) < soon

    last = events[-1]["detail"]
    assert on_clock(last["startedAt"]) and on_clock(last["stoppedAt"])
    assert all(event["time"].startswith(f"{start:%Y-%m-%dT%H}") for event in events)
    [described] = boto3.client("batch").describe_jobs(jobs=[job_id])["jobs"]
    assert on_clock(described["createdAt"]) and on_clock(described["stoppedAt"])
    # ...and moto's CloudWatch Logs takes the run's lines (14 days back, 2 hours ahead of it)
    stream = last["container"]["logStreamName"]
    page = JobLogs(boto3.client("logs")).read(aws_env.log_group, stream)
    assert [line for _, line in page.lines][-1] == "exit code 0"
    assert all(on_clock(stamp) for stamp, _ in page.lines)


def test_the_hold_ends_with_local_mode(aws_env: Any) -> None:
    from batchcron.local import played

    played.uninstall()
    try:
        job_id = submit(aws_env)
        [described] = boto3.client("batch").describe_jobs(jobs=[job_id])["jobs"]
        assert described["status"] == "SUCCEEDED"  # moto's own behaviour again
    finally:
        played.install()


def test_forbid_holds_back_a_run_while_local_mode_plays_the_previous_one(aws_env: Any) -> None:
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.scheduling.submit import Request
    from batchcron.wiring import submitter

    submit(aws_env)
    synth = synthesizer(aws_env, lambda event: None, {})
    synth.step(now=0)
    synth.step(now=1)  # the first run is RUNNABLE

    second = submitter().trigger(
        Request(
            job=load_catalogue().get("parish"),
            trigger="manual",
            run_id="parish-20250101T000001000",
        )
    )
    assert second.action == "skipped"


def test_synthesized_events_are_recorded_by_the_real_job_state_handler(
    aws_env: Any, lambda_context: Any
) -> None:
    from batchcron.handlers.job_state import handler
    from batchcron.wiring import store

    submit(aws_env)
    play(synthesizer(aws_env, lambda event: handler(event, lambda_context), {}))

    run = store().get_run("parish", "parish-20250101T000000000")
    assert run is not None
    assert run.status == "SUCCEEDED"
    assert run.exit_code == 0
    assert run.log_stream and run.log_stream.startswith("batchcron-local-JobDefinition/default/")


# --- the state file ------------------------------------------------------------------------------


def test_state_file_of_a_dead_process_is_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from batchcron.local.state import LocalState, remove_state, running_states

    monkeypatch.setenv("BATCHCRON_LOCAL_STATE_DIR", str(tmp_path))
    state = LocalState(os.getpid(), "http://127.0.0.1:5000", "eu-west-2", "u", "s", {})
    state.write()
    assert running_states() == [state]
    remove_state(state)
    assert running_states() == []

    LocalState(2**22 + 12345, "http://127.0.0.1:5000", "eu-west-2", "u", "s", {}).write()
    assert running_states() == []


def test_each_local_mode_has_its_own_state_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from batchcron.local.state import LocalState, remove_state, running_states

    monkeypatch.setenv("BATCHCRON_LOCAL_STATE_DIR", str(tmp_path))
    first = LocalState(os.getpid(), "http://127.0.0.1:5300", "eu-west-2", "u", "s", {})
    second = LocalState(os.getppid(), "http://127.0.0.1:5000", "eu-west-2", "u", "s", {})
    first.write()
    second.write()
    assert running_states() == [second, first]  # by port
    # The second one stopping leaves the first one findable.
    remove_state(second)
    assert running_states() == [first]


def test_the_banner_fits_80_columns_without_cutting_a_word() -> None:
    import io
    from datetime import UTC, datetime
    from pathlib import Path
    from types import SimpleNamespace

    from rich.console import Console

    from batchcron.local.options import LocalOptions
    from batchcron.local.system import LocalSystem

    buffer = io.StringIO()
    options = LocalOptions(
        replay_from=datetime(2026, 11, 29, 15, 9, tzinfo=UTC),
        failures={"site-of-special-scientific-interest": 1, "local-authority-district": None},
        duration=70,
    )
    system = SimpleNamespace(
        console=Console(file=buffer, force_terminal=True, width=80, color_system=None),
        options=options,
        endpoint="http://127.0.0.1:5000",
        region="eu-west-2",
        page_url="http://127.0.0.1:3000/",
        webhook_url="http://127.0.0.1:3000/github",
        slack_label="local sink http://127.0.0.1:44825 (alerts print here)",
        provisioned=SimpleNamespace(runs_table="batchcron-local-RunsTable"),
        state_file=Path("/tmp/batchcron-local-0/batchcron-local-5000.json"),
    )
    LocalSystem.banner(system)  # type: ignore[arg-type]
    lines = buffer.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    words = set(" ".join(lines).split())
    for whole in ("site-of-special-scientific-interest", "local-authority-district", "status"):
        assert any(whole in word for word in words), (whole, lines)
    assert any(line.strip().endswith(" push digital-land/entity-builder") for line in lines)
