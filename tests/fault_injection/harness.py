"""What every campaign needs: the stack on moto, a settable clock, Batch's view of what ran, and
the tally a campaign returns."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from botocore.config import Config

from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import Catalogue
from batchcron.local.provision import Provisioned, provision
from batchcron.store.runs import RunStore
from tests.serial_moto import serialised_moto

REGION = "eu-west-2"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_METRICS_NAMESPACE": "batchcron",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
UNSET = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "SLACK_WEBHOOK_URL")


@dataclass
class Tally:
    """What one campaign tried and what came out. `lost` and `duplicates` must be 0."""

    campaign: str
    seed: int
    attempted: int = 0  # requests, runs, events or invocations the campaign produced
    faults: int = 0  # faults injected
    expected: int = 0  # outcomes that must come out right (runs, deliveries, alerts, records)
    done: int = 0  # of `expected`, those that did (submitted once, delivered once, equal, ...)
    duplicates: int = 0
    lost: int = 0
    detail: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "seed": self.seed,
            "attempted": self.attempted,
            "faults": self.faults,
            "expected": self.expected,
            "done": self.done,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "detail": dict(self.detail),
        }


class Clock:
    """A clock the campaign moves by hand (shared by dispatcher, submitter and recorder)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Stack:
    """The stack's resources on moto, with the functions' environment set."""

    provisioned: Provisioned
    catalogue: Catalogue
    jobs_file: Path

    @staticmethod
    def client(service: str, **config: Any) -> Any:
        """A fresh client (its own event hooks, so faults attach to it alone)."""
        return boto3.client(service, region_name=REGION, config=Config(**config))

    def store(self, client: Any | None = None) -> RunStore:
        return RunStore(self.provisioned.runs_table, client)

    def batch_jobs(self) -> list[dict[str, Any]]:
        """Every job Batch holds in the stack's queue, whatever its status."""
        client = self.client("batch")
        jobs: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "jobQueue": self.provisioned.job_queue,
            "filters": [{"name": "AFTER_CREATED_AT", "values": ["0"]}],
        }
        while True:
            response = client.list_jobs(**request)
            jobs.extend(response.get("jobSummaryList", []))
            if not response.get("nextToken"):
                return jobs
            request["nextToken"] = response["nextToken"]

    def names(self) -> Counter[str]:
        """Batch job name -> how many Batch jobs carry it (more than one is a duplicate)."""
        return Counter(job["jobName"] for job in self.batch_jobs())


def reset_caches() -> None:
    from batchcron.adapters import aws, secrets
    from batchcron.settings import settings

    settings.cache_clear()
    aws.reset()
    secrets.reset()


@contextmanager
def moto_stack(catalogue: str, *, slack_url: str = "unset") -> Iterator[Stack]:
    """moto (simple Batch backend) with the stack provisioned from template.yaml, the
    functions' environment set and `catalogue` as JOBS_FILE; everything undone on exit."""
    from moto import mock_aws

    with tempfile.TemporaryDirectory(prefix="batchcron-faults-") as tmp:
        jobs_file = Path(tmp) / "jobs.yaml"
        jobs_file.write_text(catalogue, encoding="utf-8")
        with mock.patch.dict(os.environ, FAKE_ENV):
            for name in UNSET:
                os.environ.pop(name, None)
            reset_caches()
            try:
                with serialised_moto(), mock_aws(config={"batch": {"use_docker": False}}):
                    provisioned = provision(
                        boto3.session.Session(region_name=REGION), slack_url=slack_url
                    )
                    os.environ.update(provisioned.environment())
                    os.environ["JOBS_FILE"] = str(jobs_file)
                    reset_caches()
                    yield Stack(provisioned, parse_catalogue(catalogue), jobs_file)
            finally:
                reset_caches()


def many_jobs(count: int, schedule: str | None, *, extra: str = "", prefix: str = "job") -> str:
    """Catalogue YAML with `count` jobs on `schedule` (None: push only)."""
    lines = ["jobs:"]
    for i in range(count):
        lines += [f"  {prefix}-{i:03d}:", f"    repository: acme/{prefix}-{i:03d}"]
        if schedule:
            lines.append(f'    schedule: "{schedule}"')
        lines += [f"    {line}" for line in extra.splitlines() if line.strip()]
    return "\n".join(lines) + "\n"
