"""Logger, Metrics and (only when tracing is on) Tracer, created once for every handler."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "batchcron"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "batchcron"))

F = TypeVar("F", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").lower() not in ("1", "true")


def traced(handler: F) -> F:
    """Wrap a handler with Tracer only when tracing is on (Tracer costs ~100 ms of imports)."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    wrapped: F = Tracer().capture_lambda_handler(handler)  # type: ignore[assignment]
    return wrapped


def count(name: str, value: float = 1) -> None:
    """Add to a Count metric (emitted as EMF when the handler returns)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def measure(name: str, seconds: float, **dimensions: str) -> None:
    """One Seconds metric with its own dimensions (e.g. `job`), emitted as EMF now: a
    dimension per job cannot share the handler's metric set."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true"):
        return
    from aws_lambda_powertools.metrics import single_metric

    with single_metric(
        name=name, unit=MetricUnit.Seconds, value=seconds, namespace=metrics.namespace
    ) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)
