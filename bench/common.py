"""What the sections share: the result row, medians, a moto server in its own process (so the
benchmark process's CPU time is batchcron's own), and the stack provisioned on it."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
REGION = "eu-west-2"
WORK = ROOT / "bench" / ".work"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": "batchcron",
    "POWERTOOLS_METRICS_NAMESPACE": "batchcron",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


@dataclass
class Row:
    """One line of results.md."""

    figure: str
    value: str
    reference: str = ""
    ratio: str = ""
    target: str = ""  # "≤ 1.3 — met" / "missed" / ""
    how: str = ""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0-100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def verdict(ratio: float, limit: float, *, at_most: bool = True) -> str:
    met = ratio <= limit if at_most else ratio >= limit
    sign = "≤" if at_most else "≥"
    return f"{sign} {limit:g} — {'met' if met else '**missed**'}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def command(section: str) -> str:
    return f"`.venv/bin/python -m bench --only {section}`"


class MotoServer:
    """moto's ThreadedMotoServer in a child process on 127.0.0.1 (simple Batch backend)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        script = (
            "import logging, time\n"
            "from moto.server import ThreadedMotoServer\n"
            "logging.getLogger('werkzeug').setLevel(logging.ERROR)\n"
            f"server = ThreadedMotoServer(ip_address='127.0.0.1', port={self.port},"
            " verbose=False)\n"
            "server.start()\n"
            "while True:\n"
            "    time.sleep(3600)\n"
        )
        self.process = subprocess.Popen(
            [PYTHON, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        self.configure()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(
            f"{self.endpoint}{path}",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).close()

    def configure(self) -> None:
        self._post("/moto-api/config", {"batch": {"use_docker": False}})

    def reset(self) -> None:
        """Forget every resource (a fresh account), keeping the simple Batch backend."""
        self._post("/moto-api/reset")
        self.configure()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def client_environment(endpoint: str) -> dict[str, str]:
    """Environment that points every boto3 client at `endpoint` with fake credentials."""
    return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


@contextmanager
def pointed_at(endpoint: str, extra: dict[str, str] | None = None) -> Iterator[None]:
    """Set this process's environment for `endpoint` (and `extra`), then put it back."""
    from tests.fault_injection.harness import reset_caches

    saved = dict(os.environ)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(client_environment(endpoint))
    os.environ.update(extra or {})
    reset_caches()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()


def provision_stack(moto: MotoServer, *, slack_url: str = "unset") -> dict[str, str]:
    """Reset moto, provision the stack from template.yaml; the functions' environment."""
    import boto3

    from batchcron.local.provision import provision

    moto.reset()
    with pointed_at(moto.endpoint):
        provisioned = provision(boto3.session.Session(region_name=REGION), slack_url=slack_url)
    return provisioned.environment()


class CallCounter:
    """Counts AWS API calls (not HTTP attempts) made through the clients it is attached to."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call", self)
        return client

    def total(self, service: str | None = None) -> int:
        return sum(
            count
            for name, count in self.calls.items()
            if service is None or name.startswith(f"{service}:")
        )

    def reset(self) -> None:
        self.calls.clear()


class CallTimer:
    """Wall time spent inside AWS calls, by service (before-call to after-call, per thread)."""

    def __init__(self) -> None:
        import threading

        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._local = threading.local()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()

    def _before(self, **_: Any) -> None:
        self._local.started = time.perf_counter()

    def _after(self, model: Any, **_: Any) -> None:
        started = getattr(self._local, "started", None)
        if started is None:
            return
        service = model.service_model.service_name
        with self._lock:
            self.seconds[service] += time.perf_counter() - started
            self.calls[service] += 1

    def attach(self, emitter: Any) -> None:
        """Attach to a client's or a session's event emitter."""
        emitter.register("before-call", self._before)
        emitter.register("after-call", self._after)


def quiet_logs() -> None:
    """Powertools logs a JSON line per step; the benchmark prints a summary instead."""
    import logging
    import warnings

    from batchcron.observability import logger

    warnings.filterwarnings("ignore", message="No application metrics to publish")

    logger.setLevel(logging.CRITICAL)
    logging.getLogger("botocore").setLevel(logging.CRITICAL)
    from batchcron.adapters import slack

    # adapters/slack.py sets its logger's level when imported: quieten it after that.
    logging.getLogger(slack.__name__).setLevel(logging.CRITICAL)
