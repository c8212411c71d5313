"""POST /slack/actions through the real webhook handler under moto, with a fake Slack Web API:
signed `block_actions` presses of each button, the same press twice, bad signatures, a user
outside the allow-list. The payload is tests/fixtures/slack_block_actions.json (Slack's
documented shape), form-encoded as `payload=` as Slack sends it."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from batchcron.adapters import secrets
from batchcron.adapters.slack_app import sign
from batchcron.models import Status, set_clock, utcnow
from batchcron.settings import settings
from batchcron.store.runs import RunStore
from tests.conftest import load_event
from tests.fault_injection.fake_slack import FakeSlack

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "slack_block_actions.json"
SIGNING = "local-slack-signing-secret"
NOW = datetime(2026, 12, 2, 10, 15, tzinfo=UTC)
CATALOGUE = """
jobs:
  entity-builder:
    repository: digital-land/entity-builder
    script: builder
    schedule: "0 2 * * *"
"""


@pytest.fixture
def slack(aws_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeSlack]:
    """App mode on against a fake Slack: bot token and signing secret set, clock pinned."""
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(CATALOGUE, encoding="utf-8")
    monkeypatch.setenv("JOBS_FILE", str(jobs))
    client = boto3.client("secretsmanager", region_name="eu-west-2")
    client.put_secret_value(SecretId=aws_env.slack_signing_secret_arn, SecretString=SIGNING)
    client.put_secret_value(SecretId=aws_env.slack_bot_token_secret_arn, SecretString="xoxb-1")
    with FakeSlack() as fake:
        monkeypatch.setenv("SLACK_API_URL", fake.api_url)
        monkeypatch.setenv("SLACK_CHANNEL", "C0ALERTS")
        settings.cache_clear()
        secrets.reset()
        set_clock(NOW)
        yield fake


def payload(action: str = "rerun", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    document.pop("_source")
    document["actions"][0]["action_id"] = action
    document.update(changes)
    return document


def slack_event(
    document: dict[str, Any] | bytes,
    *,
    fake: FakeSlack | None = None,
    secret: str = SIGNING,
    age: timedelta = timedelta(0),
    signed: bool = True,
) -> dict[str, Any]:
    """A Function URL event as Slack posts an interaction: form body, signed at now - age."""
    if isinstance(document, dict):
        document = copy.deepcopy(document)
        if fake is not None:
            document["response_url"] = fake.response_url()
        body = urlencode({"payload": json.dumps(document)}).encode()
    else:
        body = document
    event = copy.deepcopy(load_event("github_ping.json"))
    timestamp = int((utcnow() - age).timestamp())
    event["headers"] = {
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if signed:
        event["headers"]["x-slack-request-timestamp"] = str(timestamp)
        event["headers"]["x-slack-signature"] = sign(secret, body, timestamp)
    event["rawPath"] = "/slack/actions"
    event["requestContext"]["http"]["path"] = "/slack/actions"
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def invoke(event: dict[str, Any], context: Any) -> tuple[int, dict[str, Any]]:
    from batchcron.handlers.webhook import handler

    response = handler(event, context)
    return int(response["statusCode"]), json.loads(response["body"] or "{}")


def store() -> RunStore:
    return RunStore(settings().runs_table)


def last_status_line(fake: FakeSlack) -> str:
    _, message = fake.responses[-1]
    [status] = [b for b in message["blocks"] if b.get("block_id") == "batchcron_status"]
    return str(status["elements"][0]["text"]).split("\n")[-1]


# --- each button ----------------------------------------------------------------------------


def test_rerun_submits_a_manual_run_by_the_slack_user(
    slack: FakeSlack, lambda_context: Any
) -> None:
    status, _ = invoke(slack_event(payload("rerun"), fake=slack), lambda_context)

    assert status == 200
    [run] = store().runs_for_job("entity-builder")
    assert run.trigger == "manual" and run.pusher == "ada"
    assert run.status == Status.SUBMITTED
    assert last_status_line(slack) == f"re-run by @ada: {run.run_id}"
    assert run.run_id.startswith("entity-builder-20261202T1015")
    _, message = slack.responses[-1]
    assert message["replace_original"] is True


def test_pause_records_who_and_the_message_offers_resume(
    slack: FakeSlack, lambda_context: Any
) -> None:
    status, _ = invoke(slack_event(payload("pause"), fake=slack), lambda_context)

    assert status == 200
    state = store().job_state("entity-builder")
    assert state.paused and state.paused_by == "ada (Slack)"
    assert last_status_line(slack) == "paused by @ada"
    _, message = slack.responses[-1]
    [actions] = [b for b in message["blocks"] if b.get("block_id") == "batchcron_actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["rerun", "resume", "ack"]


def test_resume_unpauses(slack: FakeSlack, lambda_context: Any) -> None:
    store().update_job_state("entity-builder", {"paused": True, "paused_by": "someone"})

    status, _ = invoke(slack_event(payload("resume"), fake=slack), lambda_context)

    assert status == 200
    assert store().job_state("entity-builder").paused is False
    assert last_status_line(slack) == "resumed by @ada"


def test_acknowledge_marks_the_streak_whose_thread_the_alert_starts(
    slack: FakeSlack, lambda_context: Any
) -> None:
    store().update_job_state(
        "entity-builder",
        {"slack_thread_ts": "1764633600.000001", "slack_thread_channel": "C0ALERTS"},
    )

    status, _ = invoke(slack_event(payload("ack"), fake=slack), lambda_context)

    assert status == 200
    assert store().job_state("entity-builder").slack_acked_by == "ada"
    assert last_status_line(slack) == "acknowledged by @ada"


# --- once, and only for whom it may ---------------------------------------------------------


def test_the_same_press_twice_acts_once(slack: FakeSlack, lambda_context: Any) -> None:
    event = slack_event(payload("rerun"), fake=slack)

    first, _ = invoke(event, lambda_context)
    second, body = invoke(event, lambda_context)

    assert (first, second) == (200, 200)
    assert body["result"] == "already handled"
    assert len(store().runs_for_job("entity-builder")) == 1
    assert len(slack.responses) == 1


def test_a_user_outside_the_allow_list_gets_an_ephemeral_refusal_and_nothing_happens(
    slack: FakeSlack, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_ALLOWED_USERS", "U0BOSS,U0OTHER")
    settings.cache_clear()

    status, _ = invoke(slack_event(payload("pause"), fake=slack), lambda_context)

    assert status == 200
    assert store().job_state("entity-builder").paused is False
    assert store().runs_for_job("entity-builder") == []
    [refusal] = slack.calls_to("chat.postEphemeral")
    assert refusal["user"] == "U0CA5" and refusal["channel"] == "C0ALERTS"
    assert "not allowed" in refusal["text"].lower()
    assert slack.responses == []


def test_a_user_on_the_allow_list_may(
    slack: FakeSlack, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_ALLOWED_USERS", "U0BOSS,U0CA5")
    settings.cache_clear()

    invoke(slack_event(payload("pause"), fake=slack), lambda_context)

    assert store().job_state("entity-builder").paused is True


# --- signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"signed": False},
        {"age": timedelta(minutes=6)},
        {"age": -timedelta(minutes=6)},
        {"secret": "not-the-signing-secret"},
    ],
    ids=["unsigned", "six-minutes-old", "six-minutes-ahead", "wrong-secret"],
)
def test_unsigned_stale_or_wrongly_signed_presses_are_401_and_act_on_nothing(
    slack: FakeSlack, lambda_context: Any, options: dict[str, Any]
) -> None:
    status, body = invoke(slack_event(payload("pause"), fake=slack, **options), lambda_context)

    assert (status, body) == (401, {"error": "unauthorized"})
    assert store().job_state("entity-builder").paused is False
    assert slack.responses == [] and slack.calls == []


def test_a_press_is_401_while_the_signing_secret_is_unset(
    aws_env: Any, lambda_context: Any
) -> None:
    status, _ = invoke(slack_event(payload("pause"), secret="unset"), lambda_context)

    assert status == 401


def test_a_changed_body_under_a_good_signature_is_401(
    slack: FakeSlack, lambda_context: Any
) -> None:
    event = slack_event(payload("rerun"), fake=slack)
    body = base64.b64decode(event["body"]).replace(b"rerun", b"pause")
    event["body"] = base64.b64encode(body).decode()

    status, _ = invoke(event, lambda_context)

    assert status == 401


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=not-json",
        b"payload=%5B%5D",
        b"payload=%7B%22type%22%3A%22view_submission%22%7D",
        b"a=1&b=2",
    ],
)
def test_signed_nonsense_is_400(slack: FakeSlack, lambda_context: Any, body: bytes) -> None:
    status, body_ = invoke(slack_event(body), lambda_context)

    assert status == 400, body_


def test_a_body_that_is_not_utf8_cannot_be_verified_so_is_401(
    slack: FakeSlack, lambda_context: Any
) -> None:
    status, _ = invoke(slack_event(b"payload=\xff\xfe"), lambda_context)

    assert status == 401  # Slack signs text; SignatureVerifier reads the body as UTF-8


def test_an_action_id_that_is_a_list_is_400(slack: FakeSlack, lambda_context: Any) -> None:
    document = payload()
    document["actions"][0]["action_id"] = ["rerun"]

    status, _ = invoke(slack_event(document, fake=slack), lambda_context)

    assert status == 400
    assert store().runs_for_job("entity-builder") == []


def test_a_response_url_off_slack_is_not_posted_to(slack: FakeSlack, lambda_context: Any) -> None:
    document = payload("pause", response_url="https://evil.example/hook")

    status, _ = invoke(slack_event(document), lambda_context)

    assert status == 200  # acted on (the press was signed by Slack) ...
    assert store().job_state("entity-builder").paused is True
    assert slack.responses == []  # ... but nothing sent anywhere but Slack
