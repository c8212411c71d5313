"""Alert policy and the Slack message."""

from __future__ import annotations

from typing import Any

import pytest

from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import Job, Notify
from batchcron.models import Alert, Run, Status
from batchcron.outcomes.alerting import (
    Where,
    batch_job_url,
    log_stream_url,
    message,
    outcome_alert,
    region_of,
    should_alert_failure,
    texts,
)
from batchcron.outcomes.events import apply, interpret, parse_event
from tests.batch_events import STUCK, batch_event
from tests.conftest import load_event

CATALOGUE = parse_catalogue(
    """
jobs:
  parish:
    repository: digital-land/parish-collection
    schedule: "0 0 1 * *"
    attempts: 2
"""
)
JOB: Job = CATALOGUE.jobs["parish"]
LOG_GROUP = "/aws/batch/batchcron-prod-JobLogGroup-Xk2p9RtQ"
STREAM = "batchcron/default/7e6d5c4b3a2f4e1d9c8b7a6f5e4d3c2b"


def sample_run(name: str = "batch_job_failed.json", **update: Any) -> Run:
    base = Run(
        job="parish",
        run_id="parish-20260101T000000",
        trigger="schedule",
        status=Status.SUBMITTED,
        created_at="2026-01-01T00:00:00.000Z",
        slot="2026-01-01T00:00:00.000Z",
        repository="digital-land/parish-collection",
        max_attempts=2,
    )
    run = apply(base, interpret(parse_event(load_event(name)), CATALOGUE))
    assert run is not None
    return run.model_copy(update=update)


def kinds(statuses: str, notify: Notify) -> list[str | None]:
    """Alert kinds for a sequence of outcomes (F = failed, S = succeeded) of one job."""
    found: list[str | None] = []
    streak = 0
    for letter in statuses:
        status = Status.FAILED if letter == "F" else Status.SUCCEEDED
        alert = outcome_alert(status, notify, streak)
        found.append(f"{alert.kind}:{alert.failures}" if alert else None)
        streak = streak + 1 if letter == "F" else 0
    return found


# --- policy --------------------------------------------------------------------------------


def test_failures_alert_on_the_first_second_and_every_fifth() -> None:
    alerted = [n for n in range(1, 21) if should_alert_failure(n, 5)]

    assert alerted == [1, 2, 5, 10, 15, 20]


def test_still_failing_every_zero_means_only_the_first_failure() -> None:
    assert [n for n in range(1, 12) if should_alert_failure(n, 0)] == [1]


def test_still_failing_every_one_alerts_every_failure() -> None:
    assert [n for n in range(1, 6) if should_alert_failure(n, 1)] == [1, 2, 3, 4, 5]


def test_failed_still_failing_recovered_sequence() -> None:
    assert kinds("FFFFFSFS", Notify()) == [
        "failed:1",
        "still_failing:2",
        None,
        None,
        "still_failing:5",
        "recovered:5",
        "failed:1",
        "recovered:1",
    ]


def test_success_without_earlier_failures_is_silent() -> None:
    assert kinds("SSS", Notify()) == [None, None, None]


def test_recovered_can_be_turned_off() -> None:
    assert kinds("FS", Notify(recovered=False)) == ["failed:1", None]


def test_disabled_notify_never_alerts() -> None:
    assert kinds("FFS", Notify(enabled=False)) == [None, None, None]


@pytest.mark.parametrize("status", [Status.RUNNABLE, Status.RUNNING, Status.STARTING])
def test_a_retried_attempt_is_not_an_outcome(status: Status) -> None:
    assert outcome_alert(status, Notify(), 0) is None


def test_stuck_failure_is_its_own_kind() -> None:
    alert = outcome_alert(Status.FAILED, Notify(), 0, stuck=True)

    assert alert is not None
    assert (alert.kind, alert.failures) == ("stuck", 1)


# --- links ---------------------------------------------------------------------------------


def test_log_link_points_at_the_exact_stream_in_the_region() -> None:
    url = log_stream_url("eu-west-2", LOG_GROUP, STREAM)

    assert url == (
        "https://eu-west-2.console.aws.amazon.com/cloudwatch/home?region=eu-west-2"
        "#logsV2:log-groups/log-group/$252Faws$252Fbatch$252Fbatchcron-prod-JobLogGroup-Xk2p9RtQ"
        "/log-events/batchcron$252Fdefault$252F7e6d5c4b3a2f4e1d9c8b7a6f5e4d3c2b"
    )


def test_batch_console_link() -> None:
    assert batch_job_url("us-east-1", "abc-123") == (
        "https://us-east-1.console.aws.amazon.com/batch/home?region=us-east-1#jobs/detail/abc-123"
    )


def test_region_comes_from_an_arn() -> None:
    assert region_of("arn:aws:batch:eu-west-2:123456789012:job-queue/q") == "eu-west-2"
    assert region_of("not-an-arn") is None


# --- message -------------------------------------------------------------------------------


def test_failed_message_has_what_is_needed_to_act() -> None:
    run = sample_run()
    alert = Alert(kind="failed", failures=1)

    sent = message(run, alert, JOB, Where(region="us-east-1", log_group=LOG_GROUP))
    text = texts(sent)

    assert sent["text"] == ":x: parish failed"
    assert "*Job*\n`parish`" in text
    assert (
        "<https://github.com/digital-land/parish-collection|digital-land/parish-collection>" in text
    )
    assert "schedule, slot 2026-01-01 00:00 UTC" in text
    assert "Essential container in task exited" in text
    assert "*Exit code*\n`2`" in text
    assert "*Attempt*\n2 of 2" in text
    assert "*Duration*\n44m 22s" in text
    # The queue's region wins over the function's own.
    assert log_stream_url("eu-west-2", LOG_GROUP, STREAM) in text
    assert batch_job_url("eu-west-2", "8d2f6a41-93c7-4b0e-a5d2-6e1f0c7b9a34") in text


def test_a_failure_message_gives_the_specific_cause_beside_a_generic_reason() -> None:
    cause = "ResourceInitializationError: unable to pull secrets or registry auth"
    run = sample_run().model_copy(
        update={"reason": "Task failed to start", "specific_cause": cause}
    )

    text = texts(message(run, Alert(kind="failed", failures=1), JOB, Where("eu-west-2")))

    assert "Task failed to start" in text
    assert f"*Cause*\n```{cause}```" in text


def test_message_is_valid_block_kit() -> None:
    sent = message(sample_run(), Alert(kind="failed", failures=1), JOB, Where("eu-west-2"))

    header, fields, *rest = sent["blocks"]
    assert header["type"] == "header"
    assert len(header["text"]["text"]) <= 150
    assert fields["type"] == "section"
    assert len(fields["fields"]) <= 10
    assert all(block["type"] in ("section", "context") for block in rest)


def test_log_group_defaults_to_batchs_own() -> None:
    sent = message(sample_run(), Alert(kind="failed", failures=1), JOB, Where("eu-west-2"))

    assert "log-group/$252Faws$252Fbatch$252Fjob/" in texts(sent)


def test_push_trigger_links_compare_and_commit() -> None:
    sha = "3f786850e387550fdab836ed7e6dc881de23001b"
    compare = (
        "https://github.com/digital-land/parish-collection/compare/1a2b3c4d5e6f...3f786850e387"
    )
    run = sample_run(trigger="push", git_ref=sha, compare_url=compare, pusher="octocat", slot=None)

    text = texts(message(run, Alert(kind="failed", failures=1), JOB, Where("eu-west-2")))

    assert f"push <{compare}|3f78685> by octocat" in text
    assert (
        f"<https://github.com/digital-land/parish-collection/commit/{sha}|commit 3f78685>" in text
    )


def test_manual_and_foreign_triggers() -> None:
    manual = texts(message(sample_run(trigger="manual"), Alert(kind="failed"), JOB, Where("x")))
    foreign = texts(message(sample_run(foreign=True), Alert(kind="failed"), None, Where("x")))

    assert "*Trigger*\nmanual" in manual
    assert "*Trigger*\nsubmitted outside batchcron" in foreign


def test_recovered_message() -> None:
    run = sample_run("batch_job_succeeded.json")

    sent = message(run, Alert(kind="recovered", failures=3), JOB, Where("eu-west-2"))

    assert sent["text"] == ":white_check_mark: parish recovered (after 3 failures)"
    assert "*Exit code*\n`0`" in texts(sent)


def test_still_failing_message_counts() -> None:
    sent = message(sample_run(), Alert(kind="still_failing", failures=5), JOB, Where("eu-west-2"))

    assert sent["text"] == ":x: parish still failing (5 in a row)"


def test_stuck_message_says_why() -> None:
    reason = STUCK
    run = sample_run(reason=reason, attempts=[], exit_code=None, duration_seconds=None)

    sent = message(run, Alert(kind="stuck", failures=1), JOB, Where("eu-west-2"))
    text = texts(sent)

    assert "stuck in RUNNABLE" in sent["text"]
    assert "no capacity was available" in text
    assert "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY" in text


@pytest.mark.parametrize(
    ("kind", "status", "headline", "detail"),
    [
        ("missed", Status.MISSED, "parish missed a scheduled run", "starting deadline"),
        ("submit_failed", Status.SUBMIT_FAILED, "could not be submitted", "SubmitJob failed"),
        ("skipped", Status.SKIPPED, "parish skipped 3 times in a row", "still active"),
    ],
)
def test_messages_for_runs_that_did_not_start(
    kind: str, status: Status, headline: str, detail: str
) -> None:
    run = Run(
        job="parish",
        run_id="parish-20260101T000000",
        trigger="schedule",
        status=status,
        created_at="2026-01-01T00:00:00.000Z",
        slot="2026-01-01T00:00:00.000Z",
        repository="digital-land/parish-collection",
        reason="ThrottlingException: Rate exceeded",
    )

    sent = message(run, Alert(kind=kind, failures=3), JOB, Where("eu-west-2"))
    text = texts(sent)

    assert headline in sent["text"]
    assert detail in text
    assert "Rate exceeded" in text
    assert "CloudWatch Logs" not in text  # nothing ran, so there is no log to link


def test_reason_cannot_inject_slack_markup() -> None:
    run = sample_run(reason="bad <!channel> & <https://evil.example|click>")

    text = texts(message(run, Alert(kind="failed"), JOB, Where("eu-west-2")))

    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text


def test_long_reason_is_cut_to_slacks_limit() -> None:
    run = sample_run(reason="x" * 10_000)

    sent = message(run, Alert(kind="failed"), JOB, Where("eu-west-2"))

    assert all(len(block.get("text", {}).get("text", "")) <= 3000 for block in sent["blocks"])


def test_foreign_job_message_without_catalogue_entry() -> None:
    event = batch_event("FAILED", 1, job=None, job_name="adhoc-20240101", repository=None)
    change = interpret(parse_event(event), CATALOGUE)
    run = apply(None, change)
    assert run is not None

    sent = message(run, Alert(kind="failed"), None, Where("eu-west-2"))

    assert sent["text"] == ":x: adhoc failed"
    assert "Repository" not in texts(sent)


def test_a_cancelled_run_sends_no_alert() -> None:
    assert outcome_alert(Status.CANCELLED, Notify(), 0) is None
    assert outcome_alert(Status.CANCELLED, Notify(), 3) is None  # nor a recovery
