"""DispatchFunction: an EventBridge Scheduler tick -> submit every due slot once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from batchcron.models import parse_time, utcnow
from batchcron.observability import logger, metrics, traced
from batchcron.records import Record, RecordError, check, record


@record()
class TickEvent(Record):
    """The tick's input. `replay_from` (optional) backfills every slot since then."""

    scheduled_time: datetime | None = None
    replay_from: datetime | None = None
    job: str | None = None

    @check("scheduled_time", "replay_from", before=True)
    @classmethod
    def _time(cls, value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("expected an ISO 8601 time string")
        try:
            return parse_time(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {value!r}") from None


class BadTickError(ValueError):
    """The tick event cannot be used; nothing was submitted."""


def parse_tick(event: Any) -> TickEvent:
    if not isinstance(event, dict):
        raise BadTickError("tick event must be a JSON object")
    try:
        tick = TickEvent.model_validate(event)
    except RecordError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BadTickError(f"malformed tick event: {problems}") from None
    if tick.replay_from and tick.scheduled_time and tick.replay_from >= tick.scheduled_time:
        raise BadTickError("replay_from must be before scheduled_time")
    return tick


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from batchcron.wiring import dispatcher

    tick = parse_tick(event)
    scheduled = tick.scheduled_time or utcnow()
    # The tick's slot is what ties a tick's log lines (and its retries) together.
    logger.set_correlation_id(f"tick-{scheduled.isoformat()}")
    result = dispatcher().tick(
        scheduled,
        replay_from=tick.replay_from,
        only_job=tick.job,
        time_left=_time_left(context),
    )
    return result.summary()


def _time_left(context: Any) -> Callable[[], float] | None:
    """Seconds left in this invocation (the outbox's budget), when the context tells."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return lambda: float(remaining()) / 1000
