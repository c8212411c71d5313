"""`batchcron` commands against moto: what an operator sees, and what they change."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchcron.adapters import terminal as output
from batchcron.cli import main
from batchcron.models import Run, Status, iso, set_clock


@pytest.fixture(autouse=True)
def _cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No running local mode is found; whatever a command does to os.environ is undone."""
    monkeypatch.setenv("BATCHCRON_LOCAL_STATE_DIR", str(tmp_path / "no-local"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the last good catalogue
    monkeypatch.delenv("BATCHCRON_STACK", raising=False)
    saved = dict(os.environ)
    output.reset()
    yield
    os.environ.clear()
    os.environ.update(saved)
    output.reset()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def batch_jobs(aws_env: Any) -> list[dict[str, Any]]:
    client = boto3.client("batch")
    ids = [
        j["jobId"]
        for status in ("SUCCEEDED", "FAILED", "RUNNING", "SUBMITTED")
        for j in client.list_jobs(jobQueue=aws_env.job_queue, jobStatus=status)["jobSummaryList"]
    ]
    return client.describe_jobs(jobs=ids)["jobs"] if ids else []


def record_run(job: str, run_id: str, status: Status, created: datetime, **fields: Any) -> None:
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


# --- catalogue -----------------------------------------------------------------------------------


def test_jobs_lists_schedule_in_words_next_run_and_paused(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a paused job
    assert run_cli(capsys, "pause", "parish")[0] == 0
    # When
    code, out, _ = run_cli(capsys, "jobs", "--json")
    # Then
    assert code == 0
    rows = {row["job"]: row for row in json.loads(out)}
    assert rows["conservation-area"]["schedule_text"] == "At 01:00"
    assert rows["conservation-area"]["next_run"].endswith("T01:00:00.000Z")
    assert rows["entity-builder"]["on_push"] == ["main"]
    assert rows["parish"]["paused"] is True
    assert rows["green-belt"]["paused"] is False


def test_jobs_without_any_target_still_lists_the_catalogue(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "jobs")
    assert code == 0
    assert "conservation-area" in out and "At 01:00" in out
    assert "paused: unknown" in err


def test_validate_accepts_the_shipped_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate")
    assert code == 0
    assert "valid" in out


def test_validate_reports_every_error_with_job_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "jobs.yaml"
    bad.write_text(
        "jobs:\n"
        "  one:\n"
        "    repository: not-a-repo\n"
        "  two:\n"
        "    repository: a/b\n"
        "    schedule: '61 * * * *'\n",
        encoding="utf-8",
    )
    code, _, err = run_cli(capsys, "validate", str(bad))
    assert code == 1
    assert "job 'one', field 'repository'" in err
    assert "job 'two', field 'schedule'" in err
    assert "line 6" in err


# --- submit, runs, status ------------------------------------------------------------------------


def test_submit_starts_a_manual_run_through_the_submit_path(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "submit", "tiles-builder", "--ref", "v1.2")
    assert code == 0
    assert out.startswith("submitted tiles-builder-")
    [job] = batch_jobs(aws_env)
    assert job["tags"]["batchcron:trigger"] == "manual"
    env = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert env["GIT_REF"] == "v1.2"
    run_id = job["tags"]["batchcron:run-id"]
    assert run_id in out and job["jobId"] in out


def test_submit_unknown_job_names_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "submit", "tiles-buildr")
    assert code == 1
    assert "unknown job 'tiles-buildr'" in err
    assert "tiles-builder" in err
    assert "Traceback" not in out + err


def test_runs_newest_first_with_status_filter(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    record_run("parish", "parish-20250101T000000", Status.SUCCEEDED, now - timedelta(days=2))
    record_run("parish", "parish-20250102T000000", Status.FAILED, now - timedelta(days=1))
    record_run("green-belt", "green-belt-20250103T000000", Status.SUCCEEDED, now)

    code, out, _ = run_cli(capsys, "runs", "--json")
    assert code == 0
    assert [r["run_id"] for r in json.loads(out)] == [
        "green-belt-20250103T000000",
        "parish-20250102T000000",
        "parish-20250101T000000",
    ]
    _, out, _ = run_cli(capsys, "runs", "parish", "--status", "failed", "--json")
    assert [r["run_id"] for r in json.loads(out)] == ["parish-20250102T000000"]
    _, out, _ = run_cli(capsys, "runs", "parish", "--limit", "1")
    assert "parish-20250102T000000" in out and "parish-20250101T000000" not in out


def test_runs_of_a_job_removed_from_the_catalogue_stay_readable(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given history of a job that is no longer in the catalogue
    record_run("retired-job", "retired-job-20250101T000000", Status.SUCCEEDED, datetime.now(UTC))
    # When / Then
    code, out, _ = run_cli(capsys, "runs", "retired-job", "--json")
    assert code == 0
    assert [run["run_id"] for run in json.loads(out)] == ["retired-job-20250101T000000"]
    # A name never seen is still an unknown job, with suggestions.
    code, _, err = run_cli(capsys, "runs", "parsh")
    assert code == 1 and "unknown job 'parsh'" in err and "parish" in err


def test_runs_rejects_an_unknown_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "runs", "--status", "DONE")
    assert code == 2  # a usage error, click's convention
    assert "'--status': 'DONE' is not a status" in err


def test_status_exits_1_when_a_jobs_latest_run_failed(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    record_run("parish", "parish-20250101T000000", Status.SUCCEEDED, now - timedelta(days=1))
    record_run("parish", "parish-20250102T000000", Status.FAILED, now, exit_code=2)
    code, out, err = run_cli(capsys, "status")
    assert code == 1
    assert "1 failing: parish" in err  # piped: stdout carries only rows
    _, out, _ = run_cli(capsys, "status", "--json")
    rows = {row["job"]: row for row in json.loads(out)}
    assert rows["parish"]["status"] == "FAILED" and rows["parish"]["exit_code"] == 2
    assert rows["green-belt"]["latest_run"] is None


def test_status_exits_0_when_nothing_failed(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record_run("parish", "parish-20250101T000000", Status.SUCCEEDED, datetime.now(UTC))
    code, _out, err = run_cli(capsys, "status")
    assert code == 0
    assert "no job is failing" in err


# --- pause, resume, backfill, cancel -------------------------------------------------------------


def test_pause_then_resume_is_honoured_by_the_dispatcher(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchcron.wiring import dispatcher, store

    assert run_cli(capsys, "pause", "local-authority-district")[0] == 0
    state = store().job_state("local-authority-district")
    assert state.paused and state.paused_at
    # A tick across midnight does not run the paused daily job.
    midnight = datetime(2026, 1, 2, tzinfo=UTC)  # in the past: ticks from the future are refused
    dispatcher().tick(midnight, replay_from=midnight - timedelta(minutes=1))
    assert store().runs_for_job("local-authority-district") == []

    assert run_cli(capsys, "resume", "local-authority-district")[0] == 0
    assert not store().job_state("local-authority-district").paused
    dispatcher().tick(midnight, replay_from=midnight - timedelta(minutes=1))
    assert len(store().runs_for_job("local-authority-district")) == 1


def test_backfill_runs_each_missed_slot_once(
    aws_env: Any, backfill_clock: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "backfill", "local-authority-district", "--since", "72h")
    assert code == 0
    assert [line.split("\t")[2] for line in out.splitlines()[1:]] == ["submitted"] * 3
    assert len(batch_jobs(aws_env)) == 3
    # Again: the same slots are not run twice (still going: no events arrive under moto).
    code, out, _ = run_cli(capsys, "backfill", "local-authority-district", "--since", "72h")
    assert code == 0
    assert out.count("active (SUBMITTED)") == 3
    assert len(batch_jobs(aws_env)) == 3


# Backfills are dated from a pinned instant, never from today's (2027-03-04, mid-afternoon).
BACKFILL_NOW = datetime(2027, 3, 4, 15, 20, tzinfo=UTC)


@pytest.fixture
def backfill_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one clock at BACKFILL_NOW through the CLI (which puts a deployed target on real
    time when it activates it: that reset is what this stops)."""
    from batchcron import models

    set_clock(BACKFILL_NOW)
    monkeypatch.setattr(models, "set_clock_offset", lambda offset: None)


def test_backfill_window_is_closed_at_both_ends_and_runs_carry_trigger_backfill(
    aws_env: Any, backfill_clock: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchcron.wiring import store

    day = (BACKFILL_NOW - timedelta(days=3)).date()
    since, until = day.isoformat(), f"{day + timedelta(days=1)}T00:00Z"
    code, out, _ = run_cli(
        capsys, "backfill", "local-authority-district", "--since", since, "--until", until
    )
    assert code == 0
    stamp = day.strftime("%Y%m%d")
    next_stamp = (day + timedelta(days=1)).strftime("%Y%m%d")
    assert f"local-authority-district-{stamp}T000000" in out  # the midnight a user means
    assert f"local-authority-district-{next_stamp}T000000" in out
    # the table's rows, not the log lines that also say "run submitted"
    assert sum(line.split("\t")[2:3] == ["submitted"] for line in out.splitlines()) == 2
    runs = store().runs_for_job("local-authority-district")
    assert {run.trigger for run in runs} == {"backfill"}
    assert {job["tags"]["batchcron:trigger"] for job in batch_jobs(aws_env)} == {"backfill"}


def test_backfill_and_the_scheduler_run_a_slot_exactly_once(
    aws_env: Any, backfill_clock: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchcron.wiring import dispatcher

    midnight = datetime.combine((BACKFILL_NOW - timedelta(days=1)).date(), datetime.min.time(), UTC)
    # The scheduler ran the slot; a backfill over it leaves it alone
    job = "local-authority-district"
    dispatcher().tick(midnight, replay_from=midnight - timedelta(minutes=1), only_job=job)
    assert len(batch_jobs(aws_env)) == 1
    code, out, _ = run_cli(
        capsys, "backfill", "local-authority-district", "--since", midnight.isoformat(),
        "--until", midnight.isoformat(),
    )  # fmt: skip
    assert code == 0 and "active (SUBMITTED)" in out
    assert len(batch_jobs(aws_env)) == 1
    # and a backfilled slot is not run again by the scheduler
    day_before = midnight - timedelta(days=1)
    run_cli(capsys, "backfill", "local-authority-district", "--since", day_before.isoformat(),
            "--until", day_before.isoformat())  # fmt: skip
    result = dispatcher().tick(
        day_before, replay_from=day_before - timedelta(minutes=1), only_job=job
    )
    assert [outcome.action for outcome in result.outcomes] == ["duplicate"]
    assert len(batch_jobs(aws_env)) == 2


def test_backfill_dry_run_lists_slots_and_runs_nothing(
    aws_env: Any, backfill_clock: None, capsys: pytest.CaptureFixture[str]
) -> None:
    now = BACKFILL_NOW  # 72 h back from 15:20 holds three midnights, whatever the day
    record_run(
        "local-authority-district",
        "local-authority-district-" + now.strftime("%Y%m%d") + "T000000",
        Status.RUNNABLE,
        now,
    )
    code, out, err = run_cli(capsys, "backfill", "local-authority-district", "--since", "72h",
                             "--dry-run")  # fmt: skip
    assert code == 0
    assert out.count("would run") == 2 and "active (RUNNABLE)" in out
    assert "dry run: 2 of 3 slot(s)" in err
    assert batch_jobs(aws_env) == []


def test_backfill_above_ten_runs_asks_unless_yes(
    aws_env: Any, backfill_clock: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "backfill", "local-authority-district", "--since", "12d")
    assert code == 1
    assert "backfill 12 runs of local-authority-district" in err and "--yes" in err
    assert batch_jobs(aws_env) == []
    code, _, _ = run_cli(capsys, "backfill", "local-authority-district", "--since", "12d", "--yes")
    assert code == 0 and len(batch_jobs(aws_env)) == 12


def test_backfill_refuses_a_paused_job(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(capsys, "pause", "parish")
    code, _, err = run_cli(capsys, "backfill", "parish", "--since", "40d")
    assert code == 1
    assert "paused" in err and "batchcron resume parish" in err
    assert batch_jobs(aws_env) == []


def test_backfill_rejects_a_time_it_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "backfill", "parish", "--since", "yesterday")
    assert code == 2
    assert "Invalid value for '--since': 'yesterday': expected an ISO time" in err


def test_cancel_terminates_the_runs_batch_job(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(capsys, "submit", "parish")
    [job] = batch_jobs(aws_env)
    from batchcron.wiring import store

    # moto's simple backend finishes jobs at once; put the run back in flight as Batch would be.
    run_id = job["tags"]["batchcron:run-id"]
    store().update_run("parish", run_id, {"status": Status.RUNNING})

    code, out, _ = run_cli(capsys, "cancel", run_id)
    assert code == 0
    assert "cancel requested" in out
    [after] = batch_jobs(aws_env)
    assert after["statusReason"].startswith("batchcron: cancelled by")


def test_a_cancelled_run_shows_cancelled_and_status_stays_0(
    aws_env: Any, capsys: pytest.CaptureFixture[str], lambda_context: Any
) -> None:
    from batchcron.handlers.job_state import handler
    from batchcron.wiring import store
    from tests.batch_events import batch_event

    run_cli(capsys, "submit", "parish")
    [job] = batch_jobs(aws_env)
    run_id = job["tags"]["batchcron:run-id"]
    store().update_run("parish", run_id, {"status": Status.RUNNING})
    code, out, _ = run_cli(capsys, "cancel", run_id)
    assert code == 0 and "its CANCELLED state arrives shortly" in out
    [after] = batch_jobs(aws_env)
    # Batch's event for the terminated job: FAILED, with the terminate reason.
    reason = after["statusReason"]
    event = batch_event("FAILED", 1, run_id=run_id, job_id=job["jobId"], reason=reason)
    handler(event, lambda_context)

    code, out, _ = run_cli(capsys, "runs", "parish", "--json")
    assert [run["status"] for run in json.loads(out)] == ["CANCELLED"]
    code, out, err = run_cli(capsys, "status")
    assert code == 0
    assert "CANCELLED" in out and "no job is failing" in err


def test_cancel_of_a_finished_run_says_so(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record_run(
        "parish", "parish-20250101T000000", Status.SUCCEEDED, datetime.now(UTC), batch_job_id="b1"
    )
    code, out, _ = run_cli(capsys, "cancel", "parish-20250101T000000")
    assert code == 1
    assert "is SUCCEEDED: nothing to cancel" in out


def test_cancel_drops_a_queued_run(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from batchcron.wiring import store

    record_run("parish", "parish-20250101T000000", Status.QUEUED, datetime.now(UTC))
    store().update_job_state("parish", {"pending_run_id": "parish-20250101T000000"})
    code, _, _ = run_cli(capsys, "cancel", "parish-20250101T000000")
    assert code == 0
    assert store().get_run("parish", "parish-20250101T000000").status == Status.SUPERSEDED  # type: ignore[union-attr]
    assert store().job_state("parish").pending_run_id is None


# --- logs ----------------------------------------------------------------------------------------


def test_logs_prints_the_runs_stream(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from batchcron.adapters.joblogs import JobLogs

    JobLogs(boto3.client("logs")).write(
        aws_env.log_group,
        "def/default/abc",
        [(int(datetime.now(UTC).timestamp() * 1000), "make: done")],
    )
    record_run(
        "parish",
        "parish-20250101T000000",
        Status.SUCCEEDED,
        datetime.now(UTC),
        log_stream="def/default/abc",
    )
    code, out, _ = run_cli(capsys, "logs", "parish-20250101T000000")
    assert code == 0
    assert "make: done" in out


def test_logs_of_a_run_without_a_stream_yet(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record_run("parish", "parish-20250101T000000", Status.RUNNABLE, datetime.now(UTC))
    code, out, _ = run_cli(capsys, "logs", "parish-20250101T000000")
    assert code == 0
    assert "no log stream yet (status RUNNABLE)" in out


def test_logs_of_an_unknown_run(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "logs", "parish-19990101T000000")
    assert code == 1
    assert "no run or job 'parish-19990101T000000'" in err


def test_logs_job_prints_the_latest_runs_stream(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchcron.adapters.joblogs import JobLogs

    now = datetime.now(UTC)
    stamp = int(now.timestamp() * 1000)
    for day, text in ((1, "old run"), (2, "latest run")):
        JobLogs(boto3.client("logs")).write(aws_env.log_group, f"s/{day}", [(stamp, text)])
        record_run(
            "parish",
            f"parish-2025010{day}T000000",
            Status.SUCCEEDED,
            now - timedelta(days=3 - day),
            log_stream=f"s/{day}",
        )
    code, out, _ = run_cli(capsys, "logs", "parish")
    assert code == 0
    assert "latest run" in out and "old run" not in out


def test_logs_follow_waits_for_the_stream_until_the_run_ends(
    aws_env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.adapters.joblogs import JobLogs
    from batchcron.cli import cmd_logs
    from batchcron.wiring import store

    # Given a run just submitted: no log stream yet
    record_run("parish", "parish-20250101T000000", Status.SUBMITTED, datetime.now(UTC))
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        stamp = int(datetime.now(UTC).timestamp() * 1000)
        if len(naps) == 1:  # the container starts: Batch names the stream, not yet written
            store().update_run(
                "parish",
                "parish-20250101T000000",
                {"status": Status.RUNNING, "log_stream": "s/live"},
            )
        elif len(naps) == 2:  # lines arrive
            JobLogs(boto3.client("logs")).write(aws_env.log_group, "s/live", [(stamp, "make")])
        elif len(naps) == 3:  # the run ends with its last line
            JobLogs(boto3.client("logs")).write(aws_env.log_group, "s/live", [(stamp, "done")])
            store().update_run("parish", "parish-20250101T000000", {"status": Status.SUCCEEDED})
        elif len(naps) > 5:
            raise AssertionError("still following a finished run")

    monkeypatch.setattr(cmd_logs.time, "sleep", sleep)
    # When
    code, out, err = run_cli(capsys, "logs", "-f", "parish-20250101T000000")
    # Then
    assert code == 0
    assert "waiting for parish-20250101T000000's log stream" in err
    assert out.index("make") < out.index("done")
    assert "no logs" not in out


# --- foreign runs: every command that takes a run id takes theirs ------------------------------

FOREIGN_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def foreign_runs(aws_env: Any) -> dict[str, str]:
    """A hand-submitted job recorded under its catalogue job (`reprocess-parish-<8>`, which
    names no job), and a job forging batchcron's tags under `<job>-foreign`; both RUNNING on a
    real (moto) Batch job with a log stream. Run id -> job."""
    from batchcron.adapters.joblogs import JobLogs

    client = boto3.client("batch")
    made: dict[str, str] = {}
    for job, name in (("parish", "reprocess-parish"), ("parish-foreign", "parish-20260302T093000")):
        batch_id = client.submit_job(
            jobName=name, jobQueue=aws_env.job_queue, jobDefinition=aws_env.job_definition
        )["jobId"]
        run_id = f"{name}-{batch_id[:8]}"
        stream = f"def/default/{batch_id}"
        # CloudWatch (and moto) refuse events older than 14 days: the line is stamped now.
        written = int(datetime.now(UTC).timestamp() * 1000)
        JobLogs(boto3.client("logs")).write(aws_env.log_group, stream, [(written, f"{name}: done")])
        record_run(
            job,
            run_id,
            Status.RUNNING,
            FOREIGN_AT,
            foreign=True,
            batch_job_id=batch_id,
            log_stream=stream,
        )
        made[run_id] = job
    return made


def test_show_logs_and_cancel_find_a_foreign_run_that_runs_prints(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    made = foreign_runs(aws_env)
    code, out, _ = run_cli(capsys, "runs", "--json")
    printed = {run["run_id"]: run["job"] for run in json.loads(out)}
    assert printed == made
    for run_id, job in made.items():
        code, out, _ = run_cli(capsys, "show", run_id, "--json")
        assert code == 0
        shown = json.loads(out)
        assert (shown["run_id"], shown["job"]) == (run_id, job)
        code, out, _ = run_cli(capsys, "logs", run_id)
        assert code == 0
        assert f"{run_id.rsplit('-', 1)[0]}: done" in out
        code, out, _ = run_cli(capsys, "cancel", run_id)
        assert code == 0
        assert f"cancel requested for {run_id}" in out
    reasons = {job["jobName"]: job["statusReason"] for job in batch_jobs(aws_env)}
    assert all(reason.startswith("batchcron: cancelled by") for reason in reasons.values())


def test_an_unknown_run_id_is_still_a_usage_error_after_the_look_up_across_jobs(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign_runs(aws_env)
    for command in ("show", "cancel"):
        code, _, err = run_cli(capsys, command, "reprocess-parish-00000000")
        assert code == 1
        assert "no run 'reprocess-parish-00000000'" in err


# --- push ----------------------------------------------------------------------------------------


def test_push_sends_a_github_signed_push(capsys: pytest.CaptureFixture[str]) -> None:
    from batchcron.cli.push import signature
    from batchcron.local.http import Server, _Quiet

    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(_Quiet):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self._reply(202, {"jobs": []})

    server = Server(Handler, 0)
    server.start()
    try:
        code, out, _ = run_cli(
            capsys, "push", "entity-builder", "--url", f"{server.url}/github", "--secret", "s3cret"
        )
    finally:
        server.stop()
    assert code == 0
    assert "202" in out
    [(headers, body)] = received
    assert headers["x-hub-signature-256"] == signature("s3cret", body)
    assert headers["x-github-event"] == "push"
    event = json.loads(body)
    assert event["repository"]["full_name"] == "digital-land/entity-builder"
    assert event["ref"] == "refs/heads/main"
    assert isinstance(event["repository"]["pushed_at"], int)
    assert event["compare"].startswith("https://github.com/digital-land/entity-builder/compare/")


def test_push_names_a_github_enterprise_host() -> None:
    from batchcron.cli.push import payload

    event = payload("org/repo", host="ghe.example.org")
    assert event["compare"].startswith("https://ghe.example.org/org/repo/compare/")
    assert event["repository"]["html_url"] == "https://ghe.example.org/org/repo"


@pytest.mark.parametrize("command", ["push", "local"])
@pytest.mark.parametrize("host", ["https://ghe.example.org", "ghe.example.org:8443", "a b", ""])
def test_github_host_must_be_a_bare_host_name(
    capsys: pytest.CaptureFixture[str], command: str, host: str
) -> None:
    args = ["push", "a/b", "--url", "http://127.0.0.1:1/github", "--secret", "x"]
    code, _, err = run_cli(
        capsys, *(args if command == "push" else ["local"]), "--github-host", host
    )
    assert code == 2
    assert "--github-host" in err and "host name" in err


def test_push_to_a_closed_port_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "push", "a/b", "--url", f"http://127.0.0.1:{closed_port()}/github", "--secret", "x"
    )
    assert code == 1
    assert "start local mode with `make run`" in err and "Errno" not in err


def test_read_commands_answer_from_the_last_good_catalogue_and_say_why(
    aws_env: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from batchcron.catalogue.loading import jobs_file

    good = jobs_file().read_text()
    file = tmp_path / "jobs.yaml"
    file.write_text(good)
    monkeypatch.setenv("JOBS_FILE", str(file))
    assert run_cli(capsys, "jobs")[0] == 0  # a good load keeps a copy
    file.write_text(good.replace('schedule: "0 1 * * *"', 'schedule: "0 25 * * *"'))
    os.utime(file, (file.stat().st_mtime + 5, file.stat().st_mtime + 5))
    for command in (["jobs"], ["status"], ["runs", "parish"]):
        code, out, err = run_cli(capsys, *command)
        assert code == 0, (command, err)
        assert "1 catalogue error(s); showing the last good catalogue" in err
        assert "job 'conservation-area', field 'schedule'" in err
        if command != ["runs", "parish"]:
            assert "entity-builder" in out and "conservation-area" in out
    code, _, err = run_cli(capsys, "validate", str(file))
    assert code == 1 and "field 'schedule'" in err


# --- targets and errors --------------------------------------------------------------------------


def test_no_target_says_how_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "runs")
    assert code == 1
    assert "make run" in err and "--stack" in err
    assert "Traceback" not in out + err


def test_stack_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    from moto import mock_aws

    with mock_aws():
        code, _, err = run_cli(capsys, "runs", "--stack", "nope", "--region", "eu-west-2")
    assert code == 1
    assert "stack 'nope' not found in eu-west-2" in err


def test_stack_outputs_are_the_target(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a stack whose outputs name the provisioned resources, and nothing in the environment
    outputs = {
        "RunsTableName": aws_env.runs_table,
        "JobQueueArn": aws_env.job_queue,
        "JobDefinitionArn": aws_env.job_definition,
        "JobLogGroupName": aws_env.log_group,
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName="bc", TemplateBody=json.dumps(template))
    record_run("parish", "parish-20250101T000000", Status.SUCCEEDED, datetime.now(UTC))
    for name in ("RUNS_TABLE", "JOB_QUEUE", "JOB_DEFINITION"):
        os.environ.pop(name)
    # When
    code, out, _ = run_cli(capsys, "runs", "--stack", "bc", "--json")
    # Then
    assert code == 0
    assert [r["run_id"] for r in json.loads(out)] == ["parish-20250101T000000"]


def test_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = run_cli(capsys, "status", "--stack", "prod", "--region", "eu-west-2")
    assert code == 1
    assert "no AWS credentials" in err


def test_unreachable_endpoint(
    monkeypatch: pytest.MonkeyPatch, no_retry_sleep: list[float], capsys: Any
) -> None:
    monkeypatch.setenv("RUNS_TABLE", "t")
    monkeypatch.setenv("JOB_QUEUE", "q")
    monkeypatch.setenv("JOB_DEFINITION", "d")
    url = f"http://127.0.0.1:{closed_port()}"
    code, out, err = run_cli(capsys, "runs", "--endpoint-url", url)
    assert code == 1
    assert f"cannot reach the AWS endpoint {url}" in err
    assert "Traceback" not in out + err


def test_endpoint_without_local_mode(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "runs", "--endpoint-url", "http://127.0.0.1:1")
    assert code == 1
    assert "cannot reach http://127.0.0.1:1" in err


def test_several_local_modes_ask_for_endpoint_url(capsys: pytest.CaptureFixture[str]) -> None:
    from batchcron.local.state import LocalState

    for port in (5300, 5000):
        LocalState(os.getpid(), f"http://127.0.0.1:{port}", "eu-west-2", "u", "s", {}).write()
    code, _, err = run_cli(capsys, "runs")
    assert code == 1
    assert "2 local modes are running (http://127.0.0.1:5000, http://127.0.0.1:5300)" in err
    assert "--endpoint-url" in err


def test_a_running_local_mode_is_found_through_its_state_file(aws_env: Any) -> None:
    from batchcron.cli.target import TargetOptions, resolve
    from batchcron.local.state import LocalState

    LocalState(
        pid=os.getpid(),
        endpoint_url="http://127.0.0.1:5123",
        region="eu-west-2",
        webhook_url="http://127.0.0.1:3123/github",
        webhook_secret="s",
        environment=aws_env.environment(),
    ).write()
    target = resolve(TargetOptions())
    assert target.local
    assert target.endpoint_url == "http://127.0.0.1:5123"
    assert target.environment["RUNS_TABLE"] == aws_env.runs_table
    assert resolve(TargetOptions(endpoint_url="http://localhost:5123/")).local


def test_the_cli_runs_on_the_clock_of_the_local_mode_it_talks_to(aws_env: Any) -> None:
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.cli.app import connect
    from batchcron.cli.cmd_catalogue import job_row
    from batchcron.cli.target import TargetOptions
    from batchcron.local.state import LocalState
    from batchcron.models import clock_offset, utcnow

    # Given local mode started with --now 2027-03-01T00:20:00Z: its state says how far its
    # clock runs from real time
    start = datetime(2027, 3, 1, 0, 20, tzinfo=UTC)
    LocalState(
        pid=os.getpid(),
        endpoint_url="http://127.0.0.1:5123",
        region="eu-west-2",
        webhook_url="http://127.0.0.1:3123/github",
        webhook_secret="s",
        environment=aws_env.environment(),
        clock_offset_seconds=(start - datetime.now(UTC)).total_seconds(),
    ).write()

    # When a command connects to it
    connect(TargetOptions())

    # Then the CLI's clock is local mode's, and the next runs follow the set instant
    assert start <= utcnow() < start + timedelta(minutes=5)
    parish = job_row(load_catalogue().get("parish"), None)
    assert parish["next_run"] == "2027-04-01T00:00:00.000Z"

    # ...and a target on real time (the functions' variables) puts it back
    Path(os.environ["BATCHCRON_LOCAL_STATE_DIR"], "batchcron-local-5123.json").unlink()
    connect(TargetOptions())
    assert clock_offset() == timedelta(0)


def test_local_now_starts_the_clock_and_replay_counts_back_from_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import batchcron.local

    started: list[Any] = []
    monkeypatch.setattr(batchcron.local, "run_local", lambda options: started.append(options) or 0)
    for now in ("2027-03-01T00:20:00Z", "2027-03-01T01:20:00+01:00", "2019-06-30T23:59:00Z"):
        assert run_cli(capsys, "local", "--now", now, "--replay", "24h")[0] == 0
    future, same, past = started
    assert future.now == same.now == datetime(2027, 3, 1, 0, 20, tzinfo=UTC)
    assert future.replay_from == datetime(2027, 2, 28, 0, 20, tzinfo=UTC)
    assert past.replay_from == datetime(2019, 6, 29, 23, 59, tzinfo=UTC)


def test_parse_since_reads_ages_and_times() -> None:
    from batchcron.cli.commands import parse_since

    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2025-05-31T00:00Z", now) == datetime(2025, 5, 31, tzinfo=UTC)
    assert parse_since("2025-05-31T00:00", now) == datetime(2025, 5, 31, tzinfo=UTC)


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- reading runs: tables, output formats, watch, times ------------------------------------------


def terminal(monkeypatch: pytest.MonkeyPatch, width: int) -> Any:
    """Make stdout a terminal `width` columns wide; returns the buffer it writes to."""
    import functools
    import io

    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, color_system=None)
    monkeypatch.setattr(output, "out", functools.cache(lambda: console))
    return buffer


LONG_REASON = "the previous run of this job is still active in AWS Batch " * 3


def some_runs() -> None:
    now = datetime.now(UTC)
    record_run("parish", "parish-20250101T000000", Status.SUCCEEDED, now - timedelta(hours=3))
    record_run(
        "site-of-special-scientific-interest",
        "site-of-special-scientific-interest-20250102T000000123",
        Status.SKIPPED,
        now - timedelta(hours=1),
        reason=LONG_REASON,
    )


def test_piped_runs_are_one_plain_line_per_row_in_a_fixed_order(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    some_runs()
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split("\t") == [
        "RUN", "JOB", "TRIGGER", "STATUS", "CREATED", "DURATION", "EXIT", "REASON"
    ]  # fmt: skip
    assert len(rows) == 2
    assert all(len(row.split("\t")) == 8 and row == row.strip() for row in rows)
    first = rows[0].split("\t")
    assert first[0] == "site-of-special-scientific-interest-20250102T000000123"
    assert first[3] == "SKIPPED" and first[7] == " ".join(LONG_REASON.split())
    assert "\x1b" not in out  # no colour codes in a pipe


def test_a_narrow_terminal_keeps_run_ids_whole_and_drops_low_priority_columns(
    aws_env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    some_runs()
    buffer = terminal(monkeypatch, 80)
    assert main(["runs"]) == 0
    text = buffer.getvalue()
    assert "site-of-special-scientific-interest-20250102T000000123" in text
    assert "parish-20250101T000000" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "STATUS" in text and "REASON" not in text and "DURATION" not in text
    # A wide terminal shows every column; free text is cut with an ellipsis, never an id.
    buffer = terminal(monkeypatch, 200)
    assert main(["runs"]) == 0
    text = buffer.getvalue()
    assert "REASON" in text and "JOB" in text and "…" in text


def test_output_name_wide_and_json(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    some_runs()
    _, out, _ = run_cli(capsys, "runs", "-o", "name")
    assert out.splitlines() == [
        "site-of-special-scientific-interest-20250102T000000123",
        "parish-20250101T000000",
    ]
    _, out, _ = run_cli(capsys, "runs", "-o", "wide")
    assert out.splitlines()[0].split("\t")[-2:] == ["BATCH JOB", "REF"]
    _, as_json, _ = run_cli(capsys, "runs", "-o", "json")
    _, alias, _ = run_cli(capsys, "runs", "--json")
    assert json.loads(as_json) == json.loads(alias) and len(json.loads(alias)) == 2
    code, _, err = run_cli(capsys, "runs", "-o", "yaml")
    assert code == 2 and "'yaml' is not one of 'json', 'wide', 'name'" in err


def test_watch_redraws_until_ctrl_c(
    aws_env: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.cli import app

    some_runs()
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) % 2 == 0:  # every second nap: Ctrl-C
            raise KeyboardInterrupt

    monkeypatch.setattr(app.time, "sleep", sleep)
    code, out, _ = run_cli(capsys, "runs", "--watch")
    assert code == 0
    assert out.count("parish-20250101T000000") == 2  # drawn twice, then Ctrl-C
    code, out, _err = run_cli(capsys, "status", "-w")
    assert code == 0 and out.count("parish-20250101T000000") >= 1


def test_runs_since_keeps_the_window(aws_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    some_runs()
    _, out, _ = run_cli(capsys, "runs", "--since", "2h", "-o", "name")
    assert out.splitlines() == ["site-of-special-scientific-interest-20250102T000000123"]
    code, _, err = run_cli(capsys, "runs", "--since", "soon")
    assert code == 2 and "Invalid value for '--since': 'soon'" in err


def test_jobs_job_shows_one_job_resolved(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "jobs", "conservation-area")
    assert code == 0
    assert "At 01:00 (0 1 * * *, UTC)" in out
    assert "timeout_minutes:" in out and "720" in out  # a default, applied
    assert "concurrency:" in out and "forbid" in out
    _, out, _ = run_cli(capsys, "jobs", "tiles-builder", "--json")
    assert json.loads(out)["concurrency"] == "queue"
    code, _, err = run_cli(capsys, "jobs", "tiles-buildr")
    assert code == 1 and "tiles-builder" in err


def test_show_run_prints_trigger_attempts_reason_and_alert(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from batchcron.models import Alert, Attempt

    record_run(
        "parish",
        "parish-20250101T000000",
        Status.FAILED,
        datetime(2025, 1, 1, tzinfo=UTC),
        git_ref="abc123",
        pusher="alice",
        exit_code=2,
        reason="Essential container in task exited",
        attempts=[Attempt(exit_code=2, started_at="2025-01-01T00:01:00.000Z")],
        max_attempts=2,
        alert=Alert(kind="failed", state="sent", sent_at="2025-01-01T00:05:00.123Z"),
        log_stream="batchcron/default/abc",
    )
    code, out, _ = run_cli(capsys, "show", "parish-20250101T000000")
    assert code == 0
    for expected in (
        "Trigger:       schedule",
        "Ref:           abc123",
        "Pusher:        alice",
        "Exit code:     2",
        "Reason:        Essential container in task exited",
        "Attempts:      1 of 2",
        "Alert:         failed (sent, sent 2025-01-01 00:05:00Z)",
        "Logs:          batchcron logs parish-20250101T000000",
    ):
        assert expected in out
    code, _, err = run_cli(capsys, "show", "nope")
    assert code == 1 and "no run 'nope'" in err


def test_times_are_utc_to_the_second_or_local_with_its_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    assert output.when("2025-01-01T00:00:00.123456Z") == "2025-01-01 00:00:00Z"
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        output.use_local_time(True)
        assert output.when("2025-01-01T00:00:00.123Z") == "2024-12-31 19:00:00 EST"
    finally:
        output.use_local_time(False)
        monkeypatch.delenv("TZ")
        time.tzset()


# --- usage errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--fail", "tiles-builder:x"], "Invalid value for '--fail': 'tiles-builder:x': expected"),
        (["--fail", "tiles-builder:0"], "Invalid value for '--fail': 'tiles-builder:0'"),
        (["--fail", "tiles-buildr"], "'tiles-buildr': unknown job 'tiles-buildr'"),
        (["--replay", "bogus"], "Invalid value for '--replay': 'bogus'"),
        (["--duration", "-1"], "Invalid value for '--duration'"),
        (["--now", "2027-03-01T00:20"], "'2027-03-01T00:20' has no time zone: add Z"),
        (["--now", "soon"], "'soon': expected an ISO 8601 time with Z or an offset"),
        (["--port", "70000"], "Invalid value for '--port'"),
    ],
)
def test_local_mode_refuses_bad_options_quoting_them(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, out, err = run_cli(capsys, "local", *args)
    assert code == 2
    assert expected in err
    assert "❌" not in err and "Traceback" not in out + err


def test_error_messages_print_what_was_typed_not_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_cli(capsys, "jobs", "tiles-builder:x")
    assert code == 1
    assert "unknown job 'tiles-builder:x'" in err and "❌" not in err


# --- submit --wait, --env, --ref -----------------------------------------------------------------


@pytest.mark.parametrize(("final", "code"), [(Status.SUCCEEDED, 0), (Status.FAILED, 1)])
def test_submit_wait_exits_with_the_runs_result(
    aws_env: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    final: Status,
    code: int,
) -> None:
    from batchcron.cli import cmd_runs
    from batchcron.wiring import store

    steps = [Status.RUNNING, final]

    def sleep(seconds: float) -> None:  # Batch moves the run on while the CLI waits
        [run] = store().runs_for_job("parish")
        store().update_run("parish", run.run_id, {"status": steps.pop(0)})

    monkeypatch.setattr(cmd_runs.time, "sleep", sleep)
    result, out, err = run_cli(capsys, "submit", "parish", "--wait")
    assert result == code
    assert "RUNNING" in out and final.value in out
    assert f"ended {final.value}" in err


def test_submit_env_and_ref_reach_the_container(
    aws_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run_cli(
        capsys, "submit", "parish", "--env", "REBUILD=true", "--env", "X=a=b", "--ref", "v1.2"
    )
    assert code == 0
    [job] = batch_jobs(aws_env)
    environment = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert environment["REBUILD"] == "true" and environment["X"] == "a=b"
    assert environment["GIT_REF"] == "v1.2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("API_TOKEN=x", "'API_TOKEN=x': API_TOKEN looks like a secret"),
        ("GIT_REF=main", "GIT_REF is set by batchcron"),
        ("NOVALUE", "'NOVALUE': expected NAME=VALUE"),
    ],
)
def test_submit_env_refuses_what_the_catalogue_refuses(
    aws_env: Any, capsys: pytest.CaptureFixture[str], value: str, expected: str
) -> None:
    code, _, err = run_cli(capsys, "submit", "parish", "--env", value)
    assert code == 2
    assert "Invalid value for '--env'" in err and expected in err
    assert batch_jobs(aws_env) == []
