"""AWS's documented Batch Job State Change event (tests/realworld/aws/README.md) through the
job-state recorder on moto: as sent, a job batchcron did not submit; with batchcron's tags and
the Batch job id batchcron stored, a state of the run it submitted."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from batchcron.models import Status
from tests.integration.outcomes.test_job_state import World, slack, world
from tests.integration.outcomes.test_trust_and_children import claimed

__all__ = ["slack", "world"]  # the fixtures, shared

SAMPLE = json.loads((Path(__file__).parent / "aws" / "job_state_change_runnable.json").read_text())
JOB_ID = SAMPLE["detail"]["jobId"]


def test_the_documented_event_parses_as_sent() -> None:
    from batchcron.outcomes.events import parse_event

    event = parse_event(copy.deepcopy(SAMPLE))

    assert event.detail.job_id == JOB_ID and event.detail.job_name == "event-test"
    assert event.detail.status == "RUNNABLE" and event.region == "us-east-1"


def test_the_documented_event_of_a_job_batchcron_did_not_submit_is_a_foreign_run(
    world: World,
) -> None:
    # When AWS's sample (no batchcron tags, named "event-test") arrives
    result = world.record(copy.deepcopy(SAMPLE))

    # Then it is recorded as a foreign run under its own name, RUNNABLE, and nothing else
    run = world.run(result.job, result.run_id)
    assert run.foreign and run.status == Status.RUNNABLE
    assert result.job == "event-test"
    assert world.store.runs_for_job("parish") == []


def test_the_documented_event_as_batchcrons_own_job_moves_its_run(world: World) -> None:
    # Given parish's run, submitted by batchcron as the sample's Batch job
    run_id = "parish-20260101T000000"
    claimed(world, run_id, JOB_ID)
    event: dict[str, Any] = copy.deepcopy(SAMPLE)
    event["detail"]["tags"].update(
        {"batchcron:job": "parish", "batchcron:run-id": run_id, "batchcron:trigger": "schedule"}
    )

    # When the sample arrives carrying its tags
    result = world.record(event)

    # Then the run is RUNNABLE, and still parish's own
    assert (result.job, result.run_id) == ("parish", run_id)
    run = world.run("parish", run_id)
    assert run.status == Status.RUNNABLE and not run.foreign
