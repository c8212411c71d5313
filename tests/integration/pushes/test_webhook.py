"""The webhook handler under moto: Function URL event -> verification -> matching -> Batch."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchcron.adapters import aws
from batchcron.models import Status, iso, utcnow
from batchcron.pushes.signature import MAX_BODY_BYTES, sign
from batchcron.settings import settings as app_settings
from batchcron.store.deliveries import delivery_key
from batchcron.store.runs import RunStore
from tests.conftest import load_event
from tests.faults import Storm, storm_on

SECRET = "local-webhook-secret"
AFTER = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
COMPARE = "https://github.com/digital-land/entity-builder/compare/9049f1265b7d...0d1a26e67d8f"


# --- helpers ----------------------------------------------------------------------------------


# One head-commit time for the whole run: the same payload gives the same body (and sha256).
FRESH = iso(utcnow())
FRESH_PUSHED_AT = int(utcnow().timestamp())


def sample_payload(name: str = "github_push.json") -> dict[str, Any]:
    """The sample's payload pushed (and committed) now (a push over 72 hours old is refused)."""
    payload: dict[str, Any] = json.loads(load_event(name)["body"])
    if payload.get("head_commit"):
        payload["head_commit"]["timestamp"] = FRESH
    if isinstance(payload.get("repository"), dict):
        payload["repository"]["pushed_at"] = FRESH_PUSHED_AT
    return payload


def sample_push() -> dict[str, Any]:
    """events/github_push.json with a fresh head commit, re-signed, same delivery id."""
    delivery = load_event("github_push.json")["headers"]["x-github-delivery"]
    return github_event(sample_payload(), delivery=delivery)


def github_event(
    payload: dict[str, Any] | bytes | str,
    *,
    event: str = "push",
    delivery: str | None = None,
    hook: str | None = "512345678",
    secret: str = SECRET,
    signature: str | None = None,
    unsigned: bool = False,
    encode: bool = False,
    upper_case: bool = False,
    path: str = "/github",
    method: str = "POST",
) -> dict[str, Any]:
    """A Function URL event like the samples, for `payload` signed with `secret`."""
    if isinstance(payload, dict):
        body = json.dumps(payload, separators=(",", ":")).encode()
    elif isinstance(payload, str):
        body = payload.encode()
    else:
        body = payload
    request = copy.deepcopy(load_event("github_push.json"))
    headers = request["headers"]
    for name in ("x-hub-signature", "x-hub-signature-256", "x-github-delivery", "x-github-hook-id"):
        headers.pop(name, None)
    headers["x-github-event"] = event
    headers["content-length"] = str(len(body))
    headers["x-github-delivery"] = delivery or str(uuid.uuid4())
    if hook is not None:
        headers["x-github-hook-id"] = hook
    if not unsigned:
        headers["x-hub-signature-256"] = signature or sign(secret, body)
    if upper_case:
        request["headers"] = {_title(name): value for name, value in headers.items()}
    request["rawPath"] = path
    request["requestContext"]["http"]["path"] = path
    request["requestContext"]["http"]["method"] = method
    if encode:
        request["body"], request["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        request["body"], request["isBase64Encoded"] = body.decode(), False
    return request


def _title(name: str) -> str:
    special = {"github": "GitHub", "id": "ID"}
    return "-".join(special.get(part, part.capitalize()) for part in name.split("-"))


def invoke(request: dict[str, Any], context: Any) -> tuple[int, dict[str, Any]]:
    from batchcron.handlers.webhook import handler

    response = handler(request, context)
    body = json.loads(response["body"]) if response.get("body") else {}
    return int(response["statusCode"]), body


def batch_jobs() -> list[dict[str, Any]]:
    """Every job submitted to the stack's queue, with its details."""
    client = boto3.client("batch", region_name="eu-west-2")
    summaries = client.list_jobs(
        jobQueue=app_settings().job_queue, filters=[{"name": "AFTER_CREATED_AT", "values": ["0"]}]
    )["jobSummaryList"]
    if not summaries:
        return []
    described: Any = client.describe_jobs(jobs=[job["jobId"] for job in summaries])["jobs"]
    return list(described)


def environment(job: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in job["container"]["environment"]}


def store() -> RunStore:
    return RunStore(app_settings().runs_table)


def delivery_item(delivery: str, hook: str = "512345678") -> dict[str, Any] | None:
    return store()._get(delivery_key(hook, delivery))


def actions(body: dict[str, Any]) -> dict[str, str]:
    return {result["job"]: result["action"] for result in body["jobs"]}


@pytest.fixture
def catalogue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Use a catalogue written by the test (JOBS_FILE)."""

    def use(text: str) -> None:
        path = tmp_path / "jobs.yaml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("JOBS_FILE", str(path))

    return use


TWO_BUILDERS = """
jobs:
  entity-builder:
    repository: digital-land/entity-builder
    script: builder
    on_push: {}
  entity-checker:
    repository: digital-land/entity-builder
    script: builder
    on_push: {}
"""


# --- the samples, end to end ------------------------------------------------------------------


def test_the_sample_push_submits_the_repositorys_job(aws_env: Any, lambda_context: Any) -> None:
    status, body = invoke(sample_push(), lambda_context)

    assert status == 202
    assert body["repository"] == "digital-land/entity-builder"
    [result] = body["jobs"]
    assert result["job"] == "entity-builder"
    assert result["action"] == "submitted"
    [job] = batch_jobs()
    assert job["jobId"] == result["batch_job_id"]
    assert job["jobName"] == result["run_id"]
    env = environment(job)
    assert env["GIT_REF"] == AFTER
    assert env["REPOSITORY"] == "entity-builder"
    assert env["GITHUB_ORG"] == "digital-land"
    assert job["tags"]["batchcron:trigger"] == "push"


def test_the_push_run_records_the_pusher_and_compare_url(aws_env: Any, lambda_context: Any) -> None:
    invoke(sample_push(), lambda_context)

    [run] = store().runs_for_job("entity-builder")
    assert run.trigger == "push"
    assert run.status == Status.SUBMITTED
    assert run.git_ref == AFTER
    assert run.pusher == "octocat"
    assert run.compare_url == COMPARE


def test_the_sample_ping_answers_ok_with_the_hook_id(aws_env: Any, lambda_context: Any) -> None:
    status, body = invoke(load_event("github_ping.json"), lambda_context)

    assert (status, body) == (200, {"ok": True, "hook_id": 512345678})
    assert batch_jobs() == []


def test_the_root_path_is_routed_too(aws_env: Any, lambda_context: Any) -> None:
    status, body = invoke(github_event(sample_payload(), path="/"), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


@pytest.mark.parametrize("event", ["issues", "pull_request", "workflow_run", "create"])
def test_other_event_types_are_ignored(aws_env: Any, lambda_context: Any, event: str) -> None:
    status, body = invoke(github_event({"action": "opened"}, event=event), lambda_context)

    assert (status, body) == (202, {"ignored": event})
    assert batch_jobs() == []


def test_a_get_is_not_a_server_error(aws_env: Any, lambda_context: Any) -> None:
    status, _ = invoke(github_event(sample_payload(), method="GET"), lambda_context)

    assert 400 <= status < 500
    assert batch_jobs() == []


# --- which pushes submit ----------------------------------------------------------------------


def test_a_push_to_another_branch_submits_nothing(aws_env: Any, lambda_context: Any) -> None:
    payload = sample_payload() | {"ref": "refs/heads/feature/new-dataset"}
    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "skipped"}
    assert "does not match branches" in body["jobs"][0]["reason"]
    assert batch_jobs() == []


def test_a_tag_push_submits_nothing(aws_env: Any, lambda_context: Any) -> None:
    payload = sample_payload() | {"ref": "refs/tags/v1.4.0", "base_ref": "refs/heads/main"}
    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "skipped"}
    assert batch_jobs() == []


def test_a_branch_deletion_submits_nothing(aws_env: Any, lambda_context: Any) -> None:
    payload = sample_payload() | {
        "deleted": True,
        "after": "0" * 40,
        "commits": [],
        "head_commit": None,
    }
    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert "deleted" in body["jobs"][0]["reason"]
    assert batch_jobs() == []


def test_a_forced_push_without_commits_submits(
    aws_env: Any, lambda_context: Any, catalogue: Any
) -> None:
    # Given a job with a path filter, and a force-push back to an existing commit (no commits)
    catalogue(
        "jobs:\n  entity-builder:\n    repository: digital-land/entity-builder\n"
        "    script: builder\n    on_push: {paths: ['src/**']}\n"
    )
    payload = sample_payload() | {"forced": True, "commits": []}

    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}
    assert len(batch_jobs()) == 1


def test_an_unknown_repository_submits_nothing_and_records_nothing(
    aws_env: Any, lambda_context: Any
) -> None:
    payload = sample_payload()
    payload["repository"] = {**payload["repository"], "full_name": "someone/else"}
    delivery = str(uuid.uuid4())

    status, body = invoke(github_event(payload, delivery=delivery), lambda_context)

    assert status == 202
    assert body["jobs"] == []
    assert "someone/else" in body["reason"]
    assert batch_jobs() == []
    assert delivery_item(delivery) is None


def test_the_repository_matches_case_insensitively(aws_env: Any, lambda_context: Any) -> None:
    payload = sample_payload()
    payload["repository"] = {**payload["repository"], "full_name": "Digital-Land/Entity-Builder"}

    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


@pytest.mark.parametrize(
    ("on_push", "submitted"),
    [
        ("{paths: ['config/**']}", True),  # the sample adds config/tree-preservation-order.csv
        ("{paths: ['src/**', 'docs/**']}", False),
        ("{paths_ignore: ['docs/**']}", True),
        ("{paths_ignore: ['Makefile', 'config/*.csv']}", False),  # every changed file ignored
    ],
)
def test_path_filters(
    aws_env: Any, lambda_context: Any, catalogue: Any, on_push: str, submitted: bool
) -> None:
    catalogue(
        "jobs:\n  entity-builder:\n    repository: digital-land/entity-builder\n"
        f"    script: builder\n    on_push: {on_push}\n"
    )
    status, body = invoke(github_event(sample_payload()), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted" if submitted else "skipped"}
    assert len(batch_jobs()) == (1 if submitted else 0)


@pytest.mark.parametrize("marker", ["[skip ci]", "[batchcron skip]"])
def test_a_skip_marker_submits_nothing(aws_env: Any, lambda_context: Any, marker: str) -> None:
    payload = sample_payload()
    payload["head_commit"] = {**payload["head_commit"], "message": f"Fix a typo {marker}"}

    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert marker in body["jobs"][0]["reason"]
    assert batch_jobs() == []


def test_a_disabled_job_is_skipped(aws_env: Any, lambda_context: Any, catalogue: Any) -> None:
    catalogue(
        TWO_BUILDERS.replace(
            "script: builder\n    on_push: {}\n",
            "script: builder\n    enabled: false\n    on_push: {}\n",
            1,
        )
    )

    status, body = invoke(github_event(sample_payload()), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "skipped", "entity-checker": "submitted"}
    assert body["jobs"][0]["reason"] == "job disabled"


def test_a_paused_job_is_skipped(aws_env: Any, lambda_context: Any) -> None:
    store().update_job_state("entity-builder", {"paused": True})

    status, body = invoke(github_event(sample_payload()), lambda_context)

    assert status == 202
    assert body["jobs"] == [{"job": "entity-builder", "action": "skipped", "reason": "job paused"}]
    assert batch_jobs() == []


def test_queue_keeps_only_the_newest_push_pending(
    aws_env: Any, lambda_context: Any, catalogue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.adapters.batch import Batch

    # moto finishes jobs at once: answer DescribeJobs as if every build were still running
    def running(self: Batch, job_ids: Any) -> dict[str, dict[str, Any]]:
        return {job_id: {"jobId": job_id, "status": "RUNNING"} for job_id in job_ids}

    monkeypatch.setattr(Batch, "describe", running)
    catalogue(
        "jobs:\n  entity-builder:\n    repository: digital-land/entity-builder\n"
        "    script: builder\n    concurrency: queue\n    on_push: {}\n"
    )
    # Given a build running for the first push
    _, first = invoke(github_event(sample_payload()), lambda_context)
    # When two more pushes arrive while it runs
    _, second = invoke(github_event(sample_payload() | {"after": "1" * 40}), lambda_context)
    _, third = invoke(github_event(sample_payload() | {"after": "2" * 40}), lambda_context)

    # Then only the first is in Batch, the third is pending and the second was replaced
    assert [r["action"] for r in (first["jobs"][0], second["jobs"][0], third["jobs"][0])] == [
        "submitted",
        "queued",
        "queued",
    ]
    assert len(batch_jobs()) == 1
    runs = {run.run_id: run for run in store().runs_for_job("entity-builder")}
    assert runs[second["jobs"][0]["run_id"]].status == Status.SUPERSEDED
    assert runs[third["jobs"][0]["run_id"]].status == Status.QUEUED
    assert store().job_state("entity-builder").pending_run_id == third["jobs"][0]["run_id"]


# --- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"secret": "not-the-secret"},
        {"signature": "sha1=" + "0" * 40},
        {"signature": "sha512=" + "a" * 128},
        {"signature": "sha256=" + "z" * 64},
        {"unsigned": True},
    ],
    ids=["wrong-secret", "sha1", "sha512", "not-hex", "missing"],
)
def test_a_bad_signature_is_refused_with_a_generic_401(
    aws_env: Any, lambda_context: Any, request_kwargs: dict[str, Any]
) -> None:
    status, body = invoke(github_event(sample_payload(), **request_kwargs), lambda_context)

    assert (status, body) == (401, {"error": "unauthorized"})
    assert batch_jobs() == []
    assert store().runs_for_job("entity-builder") == []


def test_a_tampered_body_is_refused(aws_env: Any, lambda_context: Any) -> None:
    request = load_event("github_push.json")
    request["body"] = request["body"].replace("refs/heads/main", "refs/heads/mainx")

    status, _ = invoke(request, lambda_context)

    assert status == 401
    assert batch_jobs() == []


def test_a_base64_body_is_verified_over_the_decoded_bytes(
    aws_env: Any, lambda_context: Any
) -> None:
    status, body = invoke(github_event(sample_payload(), encode=True), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


def test_header_names_are_case_insensitive(aws_env: Any, lambda_context: Any) -> None:
    request = github_event(sample_payload(), upper_case=True)
    assert "X-Hub-Signature-256" in request["headers"]
    assert "X-GitHub-Event" in request["headers"]

    status, body = invoke(request, lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


def test_a_rotated_secret_is_fetched_again_on_a_mismatch(aws_env: Any, lambda_context: Any) -> None:
    # Given the cached secret
    assert invoke(load_event("github_ping.json"), lambda_context)[0] == 200
    # When the secret is rotated and GitHub signs with the new one
    boto3.client("secretsmanager", region_name="eu-west-2").put_secret_value(
        SecretId=aws_env.webhook_secret_arn, SecretString="rotated-secret"
    )
    status, body = invoke(github_event(sample_payload(), secret="rotated-secret"), lambda_context)

    # Then the new secret is read once more and the delivery accepted
    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


def test_forged_requests_re_read_the_secret_at_most_once_a_minute(
    aws_env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchcron.adapters import secrets

    reads: list[bool] = []
    real = secrets.get_secret

    def counting(arn: str, **kwargs: Any) -> str:
        reads.append(bool(kwargs.get("force")))
        return real(arn, **kwargs)

    monkeypatch.setattr(secrets, "get_secret", counting)
    for _ in range(5):
        status, _ = invoke(github_event(sample_payload(), secret="forged"), lambda_context)
        assert status == 401

    assert reads.count(True) == 1


def test_the_placeholder_secret_never_verifies(aws_env: Any, lambda_context: Any) -> None:
    boto3.client("secretsmanager", region_name="eu-west-2").put_secret_value(
        SecretId=aws_env.webhook_secret_arn, SecretString="unset"
    )

    status, _ = invoke(github_event(sample_payload(), secret="unset"), lambda_context)

    assert status == 401


def test_no_secret_or_signature_is_logged(
    aws_env: Any, lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    good = sample_push()
    forged = github_event(sample_payload(), secret="forged")

    invoke(good, lambda_context)
    invoke(forged, lambda_context)

    text = "\n".join(str(vars(record)) for record in caplog.records)
    assert "delivery answered" in text  # the logs were captured
    for leak in (
        SECRET,
        good["headers"]["x-hub-signature-256"].removeprefix("sha256="),
        forged["headers"]["x-hub-signature-256"].removeprefix("sha256="),
        "tree-preservation-order",  # from the body
    ):
        assert leak not in text


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False])
def test_a_body_over_five_mib_is_refused_with_413_when_signed_else_401(
    aws_env: Any, lambda_context: Any, signed: bool
) -> None:
    body = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'

    status, body_json = invoke(github_event(body, unsigned=not signed), lambda_context)

    assert status == (413 if signed else 401)
    assert "error" in body_json


def test_an_unsigned_body_that_is_not_base64_is_a_401(aws_env: Any, lambda_context: Any) -> None:
    request = github_event(b"{}", unsigned=True)
    request["body"], request["isBase64Encoded"] = "{not base64}", True

    status, body = invoke(request, lambda_context)

    assert (status, body) == (401, {"error": "unauthorized"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"definitely not json", "not JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (b"payload=%7B%7D", "not JSON"),  # a form, sent as application/json
        (json.dumps({"zen": "a ping shape"}).encode(), "not a push payload"),
    ],
)
def test_a_verified_body_of_the_wrong_shape_is_a_400(
    aws_env: Any, lambda_context: Any, body: bytes, message: str
) -> None:
    status, answer = invoke(github_event(body), lambda_context)

    assert status == 400
    assert message in answer["error"]
    assert batch_jobs() == []


def test_a_verified_push_without_a_delivery_id_is_a_400(aws_env: Any, lambda_context: Any) -> None:
    request = github_event(sample_payload())
    del request["headers"]["x-github-delivery"]

    status, answer = invoke(request, lambda_context)

    assert status == 400
    assert "X-GitHub-Delivery" in answer["error"]
    assert batch_jobs() == []


def test_a_verified_request_without_an_event_header_is_a_400(
    aws_env: Any, lambda_context: Any
) -> None:
    request = github_event(sample_payload())
    del request["headers"]["x-github-event"]

    assert invoke(request, lambda_context)[0] == 400


# --- redelivery -----------------------------------------------------------------------------------


def test_a_redelivery_returns_the_first_result_and_submits_nothing(
    aws_env: Any, lambda_context: Any
) -> None:
    request = sample_push()
    first_status, first = invoke(request, lambda_context)

    second_status, second = invoke(request, lambda_context)

    assert (first_status, second_status) == (202, 200)
    assert second == {**first, "duplicate": True}
    assert len(batch_jobs()) == 1
    item = delivery_item(request["headers"]["x-github-delivery"])
    assert item is not None and item["status"] == "done"


def test_a_delivery_is_kept_at_least_seven_days(aws_env: Any, lambda_context: Any) -> None:
    import time

    request = sample_push()
    invoke(request, lambda_context)

    item = delivery_item(request["headers"]["x-github-delivery"])
    assert item is not None
    assert item["expires_at"] >= time.time() + 7 * 24 * 3600


def test_the_same_delivery_id_from_another_hook_is_processed(
    aws_env: Any, lambda_context: Any
) -> None:
    delivery = str(uuid.uuid4())
    invoke(github_event(sample_payload(), delivery=delivery, hook="1"), lambda_context)

    other_push = sample_payload() | {"after": "3" * 40}
    status, _ = invoke(github_event(other_push, delivery=delivery, hook="2"), lambda_context)

    assert status == 202
    assert len(batch_jobs()) == 2


def test_batch_unavailable_is_a_502_and_a_redelivery_submits_it(
    aws_env: Any, lambda_context: Any
) -> None:
    request = sample_push()

    # Given Batch refusing every SubmitJob
    with storm_on(
        aws.batch_submit(False), Storm("SubmitJob", rate=1.0, error="ServerException", status=500)
    ):
        status, body = invoke(request, lambda_context)

    # Then GitHub sees a failed delivery naming the job, and nothing is in Batch
    assert status == 502
    assert body["failed"] == ["entity-builder"]
    assert actions(body) == {"entity-builder": "failed"}
    assert batch_jobs() == []
    refused_run = body["jobs"][0]["run_id"]

    # When GitHub redelivers once Batch is back, the same run is submitted, once
    status, body = invoke(request, lambda_context)
    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}
    assert body["jobs"][0]["run_id"] == refused_run
    assert [job["jobName"] for job in batch_jobs()] == [refused_run]
    assert invoke(request, lambda_context)[0] == 200


def test_a_redelivery_submits_only_the_jobs_that_failed(
    aws_env: Any, lambda_context: Any, catalogue: Any
) -> None:
    catalogue(TWO_BUILDERS)
    request = sample_push()

    # Given the first job's every attempt refused, the second accepted
    storm = Storm("SubmitJob", first=3, error="ServerException", status=500)
    with storm_on(aws.batch_submit(False), storm):
        status, body = invoke(request, lambda_context)
    assert status == 502
    assert actions(body) == {"entity-builder": "failed", "entity-checker": "submitted"}
    assert body["failed"] == ["entity-builder"]
    checker_run = body["jobs"][1]["run_id"]

    # When GitHub redelivers
    status, body = invoke(request, lambda_context)

    # Then only the missing job is submitted; the other keeps its first run
    assert status == 202
    assert actions(body) == {"entity-builder": "submitted", "entity-checker": "submitted"}
    assert body["jobs"][1]["run_id"] == checker_run
    assert sorted(job["jobName"].rsplit("-", 1)[0] for job in batch_jobs()) == [
        "entity-builder",
        "entity-checker",
    ]
    # And a further redelivery is a duplicate
    status, again = invoke(request, lambda_context)
    assert status == 200
    assert again == {**body, "duplicate": True}
    assert len(batch_jobs()) == 2


def test_a_delivery_being_processed_is_not_processed_twice(
    aws_env: Any, lambda_context: Any
) -> None:
    from datetime import timedelta

    from batchcron.models import utcnow

    request = sample_push()
    # Given another invocation holding the delivery right now
    store().begin_delivery(
        "512345678",
        request["headers"]["x-github-delivery"],
        event="push",
        now=utcnow(),
        lease=timedelta(seconds=30),
    )

    status, body = invoke(request, lambda_context)

    assert status == 409
    assert "error" in body
    assert batch_jobs() == []


def test_a_delivery_whose_processor_died_is_taken_over(aws_env: Any, lambda_context: Any) -> None:
    from datetime import timedelta

    from batchcron.models import utcnow

    request = sample_push()
    # Given an invocation that claimed the delivery and then timed out (lease long gone)
    store().begin_delivery(
        "512345678",
        request["headers"]["x-github-delivery"],
        event="push",
        now=utcnow() - timedelta(minutes=5),
        lease=timedelta(seconds=30),
    )

    status, body = invoke(request, lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}
    assert len(batch_jobs()) == 1


def test_a_redelivery_after_a_crash_mid_submit_does_not_run_the_job_twice(
    aws_env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from batchcron.models import iso, utcnow
    from batchcron.scheduling.submit import Submitter

    request = sample_push()
    delivery = request["headers"]["x-github-delivery"]

    # Given an invocation that died right after Batch accepted the job
    def die(self: Submitter, job: Any, run: Any, *args: Any, **kwargs: Any) -> None:
        raise SystemExit("the Lambda sandbox died")

    with monkeypatch.context() as patch, pytest.raises(SystemExit):
        patch.setattr(Submitter, "_record_submitted", die)
        invoke(request, lambda_context)
    assert len(batch_jobs()) == 1
    # ... and whose delivery lease has run out
    store()._update(
        {"pk": f"DELIVERY#512345678#{delivery}", "sk": "DELIVERY"},
        set_={"lease_until": iso(utcnow() - timedelta(minutes=1))},
    )

    # When GitHub redelivers
    status, body = invoke(request, lambda_context)

    # Then the run that was claimed is not submitted again
    assert status == 202
    assert actions(body) == {"entity-builder": "duplicate"}
    assert len(batch_jobs()) == 1


# --- untrusted input, at random -------------------------------------------------------------------

_header_names = st.sampled_from(
    [
        "x-hub-signature-256",
        "X-Hub-Signature-256",
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "content-type",
        "x-hub-signature",
    ]
)
_header_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["push", "ping", "sha256=", "sha1=abc"]),
    st.binary(min_size=32, max_size=32).map(lambda b: "sha256=" + b.hex()),
)
_bodies = st.one_of(
    st.binary(max_size=2048),
    st.sampled_from([sample_push()["body"].encode()]),
    st.builds(
        lambda payload: json.dumps(payload).encode(),
        st.dictionaries(st.sampled_from(["ref", "after", "repository", "zen"]), st.text()),
    ),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=_bodies,
    headers=st.dictionaries(_header_names, _header_values, max_size=6),
    encode=st.booleans(),
    forged_with=st.one_of(st.none(), st.text(max_size=20)),
)
def test_random_requests_never_get_a_5xx_or_a_submission(
    aws_env: Any,
    lambda_context: Any,
    body: bytes,
    headers: dict[str, str],
    encode: bool,
    forged_with: str | None,
) -> None:
    request = github_event(body, unsigned=True, encode=True)
    request["headers"] = {"content-type": "application/json", **headers}
    if forged_with is not None and forged_with != SECRET:
        request["headers"]["x-hub-signature-256"] = sign(forged_with, body)
    if not encode:
        request["body"] = body.decode("utf-8", "replace")
        request["isBase64Encoded"] = False

    status, _ = invoke(request, lambda_context)

    assert status in (400, 401, 413)
    assert batch_jobs() == []


# --- replays and input the image would refuse ---------------------------------------------------


def test_the_same_body_under_a_new_delivery_id_starts_no_new_run(
    aws_env: Any, lambda_context: Any
) -> None:
    # Given a push that was delivered and started its run
    first = sample_push()
    assert invoke(first, lambda_context)[0] == 202
    assert len(batch_jobs()) == 1

    # When the captured body is replayed with new (unsigned) delivery and hook ids
    replays = [
        github_event(sample_payload(), delivery=str(uuid.uuid4())),
        github_event(sample_payload(), delivery=str(uuid.uuid4()), hook="999"),
        github_event(sample_payload(), delivery=str(uuid.uuid4()), hook=None),
    ]
    answers = [invoke(replay, lambda_context) for replay in replays]

    # Then nothing more starts, and each answer says why
    assert len(batch_jobs()) == 1
    assert len(store().runs_for_job("entity-builder")) == 1
    for status, body in answers:
        assert status == 200
        assert body["duplicate"] is True
        assert "already delivered" in body["reason"]
        assert body["jobs"] == []


def test_a_push_from_2010_starts_no_run(aws_env: Any, lambda_context: Any) -> None:
    payload = sample_payload()
    payload["repository"]["pushed_at"] = 1275386400  # 2010-06-01T10:00:00Z

    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert "older than 72 hours" in body["reason"]
    assert actions(body) == {"entity-builder": "skipped"}
    assert batch_jobs() == []
    assert store().runs_for_job("entity-builder") == []


def test_the_committed_sample_is_too_old_to_start_a_run(aws_env: Any, lambda_context: Any) -> None:
    # events/github_push.json's head commit is from 2025: replayed as is, it starts nothing
    status, body = invoke(load_event("github_push.json"), lambda_context)

    assert status == 202
    assert "2025-03-12" in body["reason"]
    assert batch_jobs() == []


def test_a_push_just_inside_72_hours_starts_its_run(aws_env: Any, lambda_context: Any) -> None:
    from datetime import timedelta

    payload = sample_payload()
    payload["repository"]["pushed_at"] = int((utcnow() - timedelta(hours=71)).timestamp())

    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


def test_a_five_day_old_commit_pushed_now_starts_its_run(aws_env: Any, lambda_context: Any) -> None:
    from datetime import timedelta

    # Given a fast-forward merge of a branch whose head commit is five days old
    payload = sample_payload()
    payload["head_commit"]["timestamp"] = iso(utcnow() - timedelta(days=5))

    # When it is pushed now
    status, body = invoke(github_event(payload), lambda_context)

    # Then the push's own time counts, and the job starts
    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


def test_a_push_dated_in_the_future_starts_no_run(aws_env: Any, lambda_context: Any) -> None:
    from datetime import timedelta

    payload = sample_payload()
    payload["repository"]["pushed_at"] = int((utcnow() + timedelta(days=30)).timestamp())

    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert "in the future" in body["reason"]
    assert batch_jobs() == []


def test_a_form_encoded_push_starts_its_run(aws_env: Any, lambda_context: Any) -> None:
    from urllib.parse import urlencode

    # Given GitHub's default content type: the JSON in a form's payload field, signed as sent
    form = urlencode({"payload": json.dumps(sample_payload())}).encode()
    request = github_event(form)
    request["headers"]["content-type"] = "application/x-www-form-urlencoded"

    status, body = invoke(request, lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


def test_a_form_encoded_ping_is_answered(aws_env: Any, lambda_context: Any) -> None:
    from urllib.parse import urlencode

    request = github_event(urlencode({"payload": '{"zen":"hi","hook_id":7}'}), event="ping")
    request["headers"]["content-type"] = "application/x-www-form-urlencoded"

    assert invoke(request, lambda_context) == (200, {"ok": True, "hook_id": 7})


def test_a_signed_ping_with_an_impossible_number_is_a_400(
    aws_env: Any, lambda_context: Any
) -> None:
    status, body = invoke(github_event(b'{"hook_id": 1e400}', event="ping"), lambda_context)

    assert status == 400
    assert "hook_id" in body["error"]


GHES = "https://ghe.example.org"


def ghes_payload() -> dict[str, Any]:
    payload = sample_payload()
    payload["compare"] = f"{GHES}/digital-land/entity-builder/compare/9049f1265b7d...0d1a26e67d8f"
    payload["repository"]["html_url"] = f"{GHES}/digital-land/entity-builder"
    return payload


def test_a_github_enterprise_push_starts_its_run_on_a_listed_host(
    aws_env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_HOSTS", "github.com,ghe.example.org")
    app_settings.cache_clear()

    status, body = invoke(github_event(ghes_payload()), lambda_context)

    assert status == 202
    assert actions(body) == {"entity-builder": "submitted"}


def test_a_github_enterprise_push_on_an_unlisted_host_is_a_400(
    aws_env: Any, lambda_context: Any
) -> None:
    status, body = invoke(github_event(ghes_payload()), lambda_context)

    assert status == 400
    assert "GITHUB_HOSTS" in body["error"]
    assert batch_jobs() == []


def test_a_push_to_a_repository_with_no_job_is_202_whatever_its_urls(
    aws_env: Any, lambda_context: Any
) -> None:
    payload = ghes_payload()
    payload["repository"]["full_name"] = "someone/else"

    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert body["jobs"] == [] and "no catalogued job" in body["reason"]


def test_a_push_without_a_head_commit_time_starts_no_run(aws_env: Any, lambda_context: Any) -> None:
    payload = sample_payload()
    del payload["head_commit"]["timestamp"]
    del payload["repository"]["pushed_at"]

    status, body = invoke(github_event(payload), lambda_context)

    assert status == 202
    assert "nor a head commit timestamp" in body["reason"]
    assert batch_jobs() == []


@pytest.mark.parametrize(
    "after",
    [
        "release/$(id)",
        "0d1a26e67d8f",  # abbreviated
        "g" * 40,
        "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c0",  # 41
        "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c\n",
    ],
)
def test_an_after_that_is_not_a_commit_sha_is_refused(
    aws_env: Any, lambda_context: Any, after: str
) -> None:
    status, body = invoke(github_event(sample_payload() | {"after": after}), lambda_context)

    assert status == 400
    assert "after" in body["error"] and "40 or 64 hex" in body["error"]
    assert batch_jobs() == []


def test_a_sha256_repository_commit_is_accepted(aws_env: Any, lambda_context: Any) -> None:
    after = "a" * 64

    status, _ = invoke(github_event(sample_payload() | {"after": after}), lambda_context)

    assert status == 202
    [job] = batch_jobs()
    assert environment(job)["GIT_REF"] == after


@pytest.mark.parametrize(
    "compare",
    [
        "http://github.com/digital-land/entity-builder/compare/a...b",
        "https://github.com.evil.example/x",
        "<!channel>",
        "https://evil.example/https://github.com/",
        "https://github.com/x <!channel>",
    ],
)
def test_a_compare_that_is_not_a_github_url_is_refused(
    aws_env: Any, lambda_context: Any, compare: str
) -> None:
    status, body = invoke(github_event(sample_payload() | {"compare": compare}), lambda_context)

    assert status == 400
    assert "compare" in body["error"] and "https://github.com/" in body["error"]
    assert batch_jobs() == []


def test_jobs_are_tagged_with_the_stack_so_it_may_terminate_them(
    aws_env: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_NAME", "batchcron-dev")
    app_settings.cache_clear()

    invoke(sample_push(), lambda_context)

    [job] = batch_jobs()
    assert job["tags"]["batchcron:stack"] == "batchcron-dev"
