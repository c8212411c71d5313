"""Figure 4, webhook: signed pushes through local mode's HTTP server (the real handler behind
`batchcron.local.http.webhook_server`, on the moto server), 8 concurrent clients for 20 s from
another process: requests per second, p50 and p99 latency against GitHub's 10 s budget, errors."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    MotoServer,
    Row,
    command,
    median,
    percentile,
    pointed_at,
    provision_stack,
    verdict,
)

CLIENTS = 8
SECONDS = 20.0
BUDGET = 10.0  # GitHub gives up on a delivery after 10 s
SECRET = "local-webhook-secret"
SINGLE_SECONDS = 5.0  # one client: the handler's own latency, as one sandbox per delivery gives


def _load(moto: MotoServer, clients: int, seconds: float) -> tuple[dict[str, Any], list[str]]:
    """A fresh stack, local mode's webhook server on it, and `clients` pushing for `seconds`."""
    from batchcron.local.functions import invoke
    from batchcron.local.http import webhook_server
    from tests.conftest import fresh_push_event

    errors: list[str] = []
    env = provision_stack(moto)
    # The sample with a head commit from now: a push over 72 hours old starts nothing.
    sample = fresh_push_event()
    with (
        tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp,
        pointed_at(moto.endpoint, env),
    ):
        body_file = Path(tmp) / "push.json"
        body_file.write_text(sample["body"], encoding="utf-8")
        server = webhook_server(0, lambda event: invoke("webhook", event), errors.append)
        server.start()
        try:
            finished = subprocess.run(
                [
                    PYTHON,
                    str(Path(__file__).with_name("load_child.py")),
                    f"{server.url}/github",
                    SECRET,
                    str(body_file),
                    str(clients),
                    str(seconds),
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=seconds + 120,
            )
        finally:
            server.stop()
    result: dict[str, Any] = json.loads(finished.stdout)
    return result, errors


def run(moto: MotoServer) -> tuple[list[Row], dict[str, Any]]:
    result, errors = _load(moto, CLIENTS, SECONDS)
    single, _ = _load(moto, 1, SINGLE_SECONDS)
    latencies: list[float] = result["latencies"]
    statuses: dict[str, int] = result["statuses"]
    count = len(latencies)
    failed = sum(n for status, n in statuses.items() if not status.startswith("2"))
    rps = count / result["wall"]
    p50, p99 = median(latencies), percentile(latencies, 99)
    raw = {
        "requests": count,
        "statuses": statuses,
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "max": max(latencies) if latencies else None,
        "handler_errors": errors[:5],
        "single_client": {
            "requests": len(single["latencies"]),
            "p50": median(single["latencies"]),
            "p99": percentile(single["latencies"], 99),
        },
    }
    how = (
        f"{command('webhook')}; {CLIENTS} keep-alive clients in another process for "
        f"{SECONDS:g} s, each push signed and with a new delivery id"
    )
    rows = [
        Row(
            "Webhook: requests per second (local mode's HTTP server)",
            f"{rps:.1f}/s ({count:,} pushes; "
            + ", ".join(f"{status}: {n:,}" for status, n in sorted(statuses.items()))
            + ")",
            f"{CLIENTS} concurrent clients",
            "",
            "",
            how,
        ),
        Row(
            "Webhook: p50 / p99 latency",
            f"{p50 * 1000:.0f} ms / {p99 * 1000:.0f} ms",
            f"GitHub's budget: {BUDGET:g} s",
            f"p99 ÷ 10 s = {p99 / BUDGET:.3f}",
            verdict(p99 / BUDGET, 0.03),
            how,
        ),
        Row(
            "Webhook: p50 / p99 latency, 1 client (one delivery at a time)",
            f"{raw['single_client']['p50'] * 1000:.0f} ms / "
            f"{raw['single_client']['p99'] * 1000:.0f} ms",
            f"GitHub's budget: {BUDGET:g} s",
            f"p99 ÷ 10 s = {raw['single_client']['p99'] / BUDGET:.3f}",
            "",
            f"{command('webhook')}; 1 client for {SINGLE_SECONDS:g} s: the handler's own latency, "
            "as when each delivery has its own Lambda sandbox",
        ),
        Row(
            "Webhook: errors",
            f"{failed + len(errors)}",
            f"{count:,} requests",
            "",
            "0 — " + ("met" if failed + len(errors) == 0 else "**missed**"),
            how + "; an error is any non-2xx answer or a failed connection",
        ),
    ]
    return rows, raw
