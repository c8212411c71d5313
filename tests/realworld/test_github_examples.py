"""octokit's example deliveries (tests/realworld/octokit, MIT) through the webhook handler, in
both content types, for github.com and GitHub Enterprise Server 3.1-3.5: each does what
docs/github.md says."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from batchcron.models import set_clock_offset, utcnow
from batchcron.pushes.signature import sign

HERE = Path(__file__).parent / "octokit"
SECRET = "local-webhook-secret"
HOSTS = ["api.github.com", "ghes-31", "ghes-32", "ghes-33", "ghes-34", "ghes-35"]
GHES_HOST = "octocoders.github.io"
NOW = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
CATALOGUE = """
jobs:
  hello-world:
    repository: Codertocat/Hello-World
    script: builder
    on_push:
      branches: [master, "refs/tags/*"]
"""
IGNORED = ("create", "delete", "pull_request")


def examples(host: str) -> dict[str, list[dict[str, Any]]]:
    loaded: dict[str, list[dict[str, Any]]] = json.loads(
        (HERE / f"{host}.json").read_text(encoding="utf-8")
    )
    return loaded


def current(payload: dict[str, Any]) -> dict[str, Any]:
    """The example pushed now: its own time is `repository.pushed_at`."""
    made = json.loads(json.dumps(payload))
    made["repository"]["pushed_at"] = int(utcnow().timestamp())
    return made


def request(payload: dict[str, Any], event: str, form: bool) -> dict[str, Any]:
    """A Function URL event as GitHub sends the delivery: JSON, or its form encoding."""
    text = json.dumps(payload)
    body = urlencode({"payload": text}) if form else text
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    return {
        "version": "2.0",
        "rawPath": "/github",
        "headers": {
            "content-type": content_type,
            "x-github-event": event,
            "x-github-delivery": str(uuid.uuid4()),
            "x-github-hook-id": "109948940",
            "x-hub-signature-256": sign(SECRET, body.encode()),
        },
        "requestContext": {"http": {"method": "POST", "path": "/github"}},
        "body": body,
        "isBase64Encoded": False,
    }


def invoke(event: dict[str, Any], context: Any) -> tuple[int, dict[str, Any]]:
    from batchcron.handlers.webhook import handler

    response = handler(event, context)
    return int(response["statusCode"]), json.loads(response["body"])


@pytest.fixture
def webhook(aws_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from batchcron.settings import settings

    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(CATALOGUE, encoding="utf-8")
    monkeypatch.setenv("JOBS_FILE", str(jobs))
    monkeypatch.setenv("GITHUB_HOSTS", f"github.com,{GHES_HOST}")
    settings.cache_clear()
    set_clock_offset(NOW - datetime.now(UTC))


def batch_job_count() -> int:
    import boto3

    from batchcron.settings import settings

    client = boto3.client("batch")
    listed = client.list_jobs(
        jobQueue=settings().job_queue, filters=[{"name": "AFTER_CREATED_AT", "values": ["0"]}]
    )
    return len(listed["jobSummaryList"])


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
@pytest.mark.parametrize("host", HOSTS)
def test_every_push_example_does_what_the_docs_say(
    webhook: None, lambda_context: Any, host: str, form: bool
) -> None:
    seen: set[str] = set()
    submitted = 0
    for number, example in enumerate(examples(host)["push"]):
        payload = current(example)
        status, body = invoke(request(payload, "push", form), lambda_context)
        [job] = body["jobs"] or [{"action": None}]
        key = json.dumps(payload, sort_keys=True)
        where = f"{host} push example {number}"
        if key in seen:
            # The same body again (octokit lists some twice): a replay starts nothing.
            assert (status, body.get("duplicate")) == (200, True), where
        elif example["deleted"]:
            assert status == 202, where
            assert job["action"] == "skipped" and "deleted" in job["reason"], where
        else:
            # A 2019 commit pushed now: the push's own time counts, so the job starts.
            assert status == 202, where
            assert job["action"] == "submitted", (where, body)
            submitted += 1
        seen.add(key)
    assert batch_job_count() == submitted


@pytest.mark.parametrize("host", [name for name in HOSTS if name.startswith("ghes")])
def test_a_ghes_push_is_refused_when_its_host_is_not_listed(
    webhook: None, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    from batchcron.settings import settings

    monkeypatch.setenv("GITHUB_HOSTS", "github.com")
    settings.cache_clear()
    [example, *_] = examples(host)["push"]

    status, body = invoke(request(current(example), "push", False), lambda_context)

    assert status == 400 and "GITHUB_HOSTS" in body["error"]
    assert batch_job_count() == 0


@pytest.mark.parametrize("host", HOSTS)
def test_a_ghes_or_github_push_to_a_repository_with_no_job_is_202(
    webhook: None, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    from batchcron.settings import settings

    monkeypatch.setenv("GITHUB_HOSTS", "github.com")
    settings.cache_clear()
    for example in examples(host)["push"]:
        payload = current(example)
        payload["repository"]["full_name"] = "someone/unfollowed"

        status, body = invoke(request(payload, "push", False), lambda_context)

        assert status in (200, 202)  # 200: octokit's repeated example is a replay
        assert body["jobs"] == []


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
@pytest.mark.parametrize("host", HOSTS)
def test_every_ping_example_is_answered_with_its_hook_id(
    webhook: None, lambda_context: Any, host: str, form: bool
) -> None:
    for example in examples(host)["ping"]:
        status, body = invoke(request(example, "ping", form), lambda_context)

        assert (status, body) == (200, {"ok": True, "hook_id": example["hook_id"]})


@pytest.mark.parametrize("event", IGNORED)
@pytest.mark.parametrize("host", HOSTS)
def test_other_events_are_acknowledged_and_start_nothing(
    webhook: None, lambda_context: Any, host: str, event: str
) -> None:
    for example in examples(host)[event]:
        for form in (False, True):
            status, body = invoke(request(example, event, form), lambda_context)

            assert (status, body) == (202, {"ignored": event})
    assert batch_job_count() == 0


def test_an_example_push_replayed_four_days_later_starts_nothing(
    webhook: None, lambda_context: Any
) -> None:
    payload = current(examples("api.github.com")["push"][0])
    set_clock_offset(NOW + timedelta(days=4) - datetime.now(UTC))

    status, body = invoke(request(payload, "push", False), lambda_context)

    assert status == 202 and "older than 72 hours" in body["reason"]
    assert batch_job_count() == 0
