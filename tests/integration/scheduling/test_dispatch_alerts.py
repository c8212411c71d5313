"""The dispatch handler's own alert path: a run Batch refuses is alerted in the same tick,
through the Slack secret the stack configures (its IAM grant is checked in tests/permissions)."""

from __future__ import annotations

from typing import Any

import pytest

from batchcron.adapters import aws
from batchcron.scheduling.dispatch import TickFailedError
from batchcron.settings import settings
from batchcron.store.runs import RunStore
from tests.conftest import load_event
from tests.faults import Storm, storm_on


def test_a_refused_submit_is_alerted_in_the_same_tick_reading_the_slack_secret(
    aws_env: Any, lambda_context: Any
) -> None:
    from batchcron.handlers.dispatch import handler

    event = load_event("dispatch_tick.json")
    handler(event, lambda_context)  # the first tick ever only sets the watermark
    later = dict(event, scheduled_time="2026-11-28T01:00:30Z", replay_from="2026-11-28T00:59:00Z")
    refused = Storm("SubmitJob", first=10, status=400, error="ClientException")

    with storm_on(aws.batch_submit(True), refused), pytest.raises(TickFailedError):
        handler(later, lambda_context)

    [run] = RunStore(settings().runs_table).runs_for_job("conservation-area")
    assert run.batch_job_id is None and refused.failed == 1
    # SlackWebhookSecret still holds "unset": the alert was looked up, then skipped.
    assert run.alert is not None and run.alert.state == "skipped", run.alert
