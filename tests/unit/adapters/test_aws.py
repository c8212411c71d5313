"""boto3 clients: one per service and configuration per process, even under concurrent first use."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from batchcron.adapters import aws


def test_concurrent_first_use_builds_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a client factory slow enough that every thread arrives while the first builds
    built: list[str] = []
    arrived = threading.Barrier(8)

    def slow_client(service: str, **config: Any) -> object:
        built.append(service)
        return object()

    monkeypatch.setattr(aws, "_client", slow_client)
    aws.reset()
    clients: list[object] = []

    def ask() -> None:
        arrived.wait()
        clients.append(aws.batch_submit())

    # When eight threads ask for the SubmitJob client at once
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one client is built and shared
    assert built == ["batch"]
    assert len({id(client) for client in clients}) == 1
    aws.reset()


def test_each_configuration_has_its_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws, "_client", lambda service, **config: object())
    aws.reset()
    assert aws.batch(True) is aws.batch(True)
    assert aws.batch(True) is not aws.batch(False)
    aws.reset()
