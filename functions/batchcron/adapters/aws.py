"""boto3 clients: created lazily on first use and cached (never at import time), one per
service and configuration per process, also when several threads ask at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, wraps
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

_T = TypeVar("_T")
# Reentrant: a client factory calls `_session()`, itself cached under the same lock.
_lock = threading.RLock()
_caches: list[Any] = []  # every factory's cache, for `reset`


def _once(factory: Callable[..., _T]) -> Callable[..., _T]:
    """`functools.cache` that builds each value once: two dispatcher workers asking for the
    SubmitJob client at the same moment share one client instead of each building one (a boto3
    client costs a cold start tens of milliseconds)."""
    cached = cache(factory)
    _caches.append(cached)

    @wraps(factory)
    def get(*args: Any) -> _T:
        with _lock:
            return cached(*args)

    return get


@_once
def _session() -> Any:
    import boto3

    return boto3.session.Session()


def _client(service: str, **config: Any) -> Any:
    from botocore.config import Config

    return _session().client(service, config=Config(**config))


@_once
def dynamodb() -> DynamoDBClient:
    return _client(
        "dynamodb",
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=2,
        read_timeout=5,
    )


@_once
def batch(patient: bool = True) -> BatchClient:
    """Batch client for reads and terminations. Patient (dispatcher) rides out throttling;
    impatient (webhook) answers well inside GitHub's 10 s."""
    if patient:
        retries = {"mode": "adaptive", "max_attempts": 10}
        return _client("batch", retries=retries, connect_timeout=3, read_timeout=10)
    retries = {"mode": "standard", "max_attempts": 1}
    return _client("batch", retries=retries, connect_timeout=1, read_timeout=1.5)


@_once
def batch_submit(patient: bool = True) -> BatchClient:
    """Batch client for SubmitJob, without botocore's retries: SubmitJob has no idempotency
    token, so `batch.Batch.submit` retries it itself, checking by name after ambiguous errors."""
    retries = {"mode": "standard", "total_max_attempts": 1}
    timeouts = (
        {"connect_timeout": 3, "read_timeout": 10}
        if patient
        else {"connect_timeout": 1, "read_timeout": 2}
    )
    return _client("batch", retries=retries, **timeouts)


@_once
def secretsmanager() -> SecretsManagerClient:
    return _client(
        "secretsmanager",
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=3,
    )


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or mocks)."""
    with _lock:
        for cached in _caches:
            cached.cache_clear()
