"""Shared fixtures: fake credentials first, then moto, then resources, then the code."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchcron.models import set_clock_offset
from tests import shared_models

# moto's EC2 backend loads ~5,000 sample AMIs (with a volume each) whenever it is created or
# reset, which is most of an `aws_env` set-up and tear-down; nothing here uses an AMI.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
shared_models.install()  # each service model parsed once per process, not once per test

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def pytest_configure(config: pytest.Config) -> None:
    """Record every AWS call the functions' code makes (tests/permissions checks them), and
    make property tests deterministic (no example database, a fixed seed)."""
    from hypothesis import settings

    from tests.permissions import recorder

    recorder.install()
    settings.register_profile("batchcron", derandomize=True, database=None, deadline=None)
    settings.load_profile("batchcron")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Each process (each xdist worker) leaves its recorded calls in BATCHCRON_CALL_RECORDINGS."""
    from tests.permissions import recorder

    directory = os.environ.get(recorder.ENV_DIR)
    if directory:
        recorder.RECORDING.dump(Path(directory))


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (the same files `sam local invoke -e` uses)."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return loaded


def fresh_push_payload() -> dict[str, Any]:
    """The payload of events/github_push.json pushed (and committed) now: a push over 72 hours
    old is taken for a replay and starts nothing."""
    from batchcron.models import iso, utcnow

    payload: dict[str, Any] = json.loads(load_event("github_push.json")["body"])
    payload["repository"]["pushed_at"] = int(utcnow().timestamp())
    payload["head_commit"]["timestamp"] = iso(utcnow())
    return payload


def fresh_push_event(secret: str = "local-webhook-secret") -> dict[str, Any]:
    """events/github_push.json as GitHub would send it now: fresh head commit, re-signed."""
    from batchcron.pushes.signature import sign

    event = load_event("github_push.json")
    body = json.dumps(fresh_push_payload()).encode()
    event["body"] = body.decode()
    event["headers"]["content-length"] = str(len(body))
    event["headers"]["x-hub-signature-256"] = sign(secret, body)
    return event


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, a clean slate of cached settings/clients and the clock on real time
    for every test."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "JOBS_FILE", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "batchcron")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    _reset_caches()
    set_clock_offset(timedelta(0))  # the one clock on real time; a test may set it
    yield
    _reset_caches()
    set_clock_offset(timedelta(0))


def _reset_caches() -> None:
    from batchcron.adapters import aws, secrets
    from batchcron.settings import settings

    settings.cache_clear()
    aws.reset()
    secrets.reset()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto with the stack's resources provisioned from template.yaml and the functions'
    environment set. Yields the `Provisioned` record."""
    from moto import mock_aws

    from batchcron.local.provision import provision
    from tests.serial_moto import serialised_moto

    with serialised_moto(), mock_aws(config={"batch": {"use_docker": False}}):
        provisioned = provision(boto3.session.Session(region_name="eu-west-2"))
        for key, value in provisioned.environment().items():
            monkeypatch.setenv(key, value)
        _reset_caches()
        yield provisioned


@pytest.fixture
def lambda_context() -> Any:
    class Context:
        function_name = "test"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:test"
        aws_request_id = "00000000-0000-0000-0000-000000000000"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 30_000

    return Context()


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record botocore's retry back-off sleeps instead of sleeping."""
    import botocore.endpoint

    slept: list[float] = []

    class _Time:
        @staticmethod
        def sleep(seconds: float) -> None:
            slept.append(seconds)

        def __getattr__(self, name: str) -> Any:
            import time

            return getattr(time, name)

    monkeypatch.setattr(botocore.endpoint, "time", _Time())
    return slept
