"""Calls into the real Lambda handlers, one at a time, as the Lambda service would."""

from __future__ import annotations

import threading
import uuid
from typing import Any

_lock = threading.Lock()


class LocalContext:
    """The parts of the Lambda context object the handlers (Powertools) read."""

    memory_limit_in_mb = 256

    def __init__(self, function_name: str, region: str = "eu-west-2") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:123456789012:function:batchcron-local-{function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/batchcron-local-{function_name}"
        self.log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def invoke(function: str, event: dict[str, Any], region: str = "eu-west-2") -> Any:
    """Run a handler (`dispatch`, `webhook` or `job_state`) with `event`.

    Serialised: the handlers share Powertools' logger and metrics, which expect one invocation
    per process at a time (as in Lambda)."""
    import importlib

    module = importlib.import_module(f"batchcron.handlers.{function}")
    context = LocalContext(_NAMES.get(function, function), region)
    with _lock:
        return module.handler(event, context)


def serialised() -> threading.Lock:
    """The lock handler invocations hold: hold it to act alongside them (the status page's
    buttons), one at a time as in one Lambda sandbox."""
    return _lock


_NAMES = {
    "dispatch": "DispatchFunction",
    "webhook": "WebhookFunction",
    "job_state": "JobStateFunction",
}
