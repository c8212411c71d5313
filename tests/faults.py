"""Fault injection for tests: throttling and 5xx answers from AWS, at the HTTP layer, so
botocore's own retry logic is what gets exercised."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data

    def read(self, *_: Any) -> bytes:
        return self.data


class Storm:
    """Answers an operation with throttling or server errors: the first `first` calls, then
    with probability `rate` (seeded)."""

    def __init__(
        self,
        operation: str,
        *,
        first: int = 0,
        rate: float = 0.0,
        seed: int = 7,
        error: str = "TooManyRequestsException",
        status: int = 429,
    ) -> None:
        self.operation = operation
        self.first = first
        self.rate = rate
        self.random = random.Random(seed)
        self.error = error
        self.status = status
        self.calls = 0
        self.failed = 0
        self.lock = threading.Lock()

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        with self.lock:
            self.calls += 1
            fail = self.calls <= self.first or self.random.random() < self.rate
            if fail:
                self.failed += 1
        if not fail:
            return None
        return refusal(request, self.status, self.error)


def refusal(request: Any, status: int, error: str) -> AWSResponse:
    """An AWS JSON error answer to `request`, for a botocore before-send hook. The request is
    steered away from moto (which answers every before-send hook it matches, in process), so a
    refused call is not also carried out."""
    request.url = "https://injected-fault.invalid/"
    body = json.dumps({"__type": error, "message": "injected fault"}).encode()
    headers = {"x-amzn-ErrorType": error, "Content-Type": "application/json"}
    return AWSResponse(request.url, status, headers, _Body(body))  # type: ignore[arg-type]


@contextmanager
def storm_on(client: Any, storm: Storm) -> Iterator[Storm]:
    """Attach `storm` to `client` (runs before moto answers)."""
    service = client.meta.service_model.service_name
    event = f"before-send.{service}.{storm.operation}"
    client.meta.events.register_first(event, storm)
    try:
        yield storm
    finally:
        client.meta.events.unregister(event, storm)
