"""`Tracing: Active`: every handler imports and answers with the Powertools tracer on.

The X-Ray SDK is not in the python3.12 runtime; without `aws-lambda-powertools[tracer]` each
handler fails at import. The child process runs like Lambda with tracing: LAMBDA_TASK_ROOT set
(Powertools turns its tracer off outside Lambda), a `_X_AMZN_TRACE_ID` header (Lambda's segment,
which the SDK's subsegments attach to) and AWS_XRAY_DAEMON_ADDRESS pointing at a UDP socket this
test reads, standing in for the daemon.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.fixture
def daemon() -> Any:
    """A UDP socket where the X-Ray daemon would listen."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[dict[str, Any]]:
    """Every segment document sent to the daemon (`{"format":"json","version":1}\\n<doc>`)."""
    documents: list[dict[str, Any]] = []
    sock.settimeout(0.5)
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return documents
        _header, _, document = data.decode().partition("\n")
        documents.append(json.loads(document))


def run_handlers_traced(daemon_address: str) -> dict[str, Any]:
    """Every handler invoked in a child process set up as Lambda with Tracing: Active."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="eu-west-2",
        AWS_REGION="eu-west-2",
        POWERTOOLS_SERVICE_NAME="batchcron",
        POWERTOOLS_METRICS_NAMESPACE="batchcron",
        POWERTOOLS_TRACE_DISABLED="false",
        LAMBDA_TASK_ROOT=str(ROOT / "functions"),
        _X_AMZN_TRACE_ID=TRACE_ID,
        AWS_XRAY_DAEMON_ADDRESS=daemon_address,
    )
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.traced_handlers"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    results: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return results


def assert_answered(results: dict[str, Any]) -> None:
    assert results["dispatch"]["window_start"] is None  # the first tick only sets the watermark
    assert results["webhook"]["statusCode"] == 202, results["webhook"]
    assert results["job_state"]["status"] == "RUNNING"


def test_every_handler_answers_with_the_tracer_on(daemon: socket.socket) -> None:
    # Given Lambda's environment with Tracing: Active
    host, port = daemon.getsockname()
    # When each handler is imported and invoked with a sample event
    results = run_handlers_traced(f"{host}:{port}")
    # Then every handler answered normally...
    assert_answered(results)
    # ...and the tracer really was on: each handler's subsegment reached the daemon address,
    # with the AWS calls it made (X-Ray's botocore patch sits under moto without breaking it)
    names = [document.get("name") for document in received(daemon)]
    assert names.count("## handler") == 3, names
    assert {"dynamodb", "batch", "secretsmanager"} <= set(names), names


def test_no_xray_daemon_listening_fails_no_invocation() -> None:
    # Given a daemon address nobody listens on (segments are sent over UDP and dropped)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    sock.close()
    # Then every handler still answers
    assert_answered(run_handlers_traced(f"{host}:{port}"))
