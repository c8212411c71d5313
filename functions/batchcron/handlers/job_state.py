"""JobStateFunction: a Batch Job State Change from EventBridge -> the run store (in order) and
Slack (once). Raises when Slack does not take an alert, so Lambda retries the event."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batchcron.observability import logger, metrics, traced
from batchcron.outcomes.events import parse_event


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from batchcron.wiring import recorder

    change = parse_event(event)  # BadJobStateEventError before anything is written
    logger.append_keys(batch_job_id=change.detail.job_id, batch_status=change.detail.status)
    return recorder().record(change).summary()
