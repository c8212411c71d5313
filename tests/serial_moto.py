"""Serialise requests into the in-process moto backend.

moto's in-memory backends are not thread-safe (Batch's `describe_jobs` iterates a dict another
thread is adding to; a conditional `PutItem` is a read then a write), whereas the real services
are. One lock around moto's request dispatch makes each AWS call atomic, as on AWS, so the races
a test sees are batchcron's own between calls, and never moto's inside one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

_LOCK = threading.RLock()


@contextmanager
def serialised_moto() -> Iterator[None]:
    """While active, moto handles one request at a time (across every thread)."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with _LOCK:
            return original(self, request)

    with mock.patch.object(BotocoreStubber, "process_request", process_request):
        yield
