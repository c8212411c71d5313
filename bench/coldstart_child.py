"""One cold start, in a fresh interpreter: run by path (not as part of the bench package) so
nothing but the standard library is imported before the clock starts.

    coldstart_child.py import-boto3 OUT
    coldstart_child.py import HANDLER OUT
    coldstart_child.py handler HANDLER EVENT OUT        import + first invocation
    coldstart_child.py record HANDLER EVENT CALLS OUT   same, writing the AWS calls it made
    coldstart_child.py baseline CALLS OUT               a minimal boto3 handler making them

OUT receives {"seconds", "import_seconds", "max_rss_kib"}.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


class Context:
    """The Lambda context attributes the handlers read."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _record_calls(into: list[dict[str, Any]]) -> None:
    """Note every AWS API call (service, operation, parameters) whatever client makes it."""
    from botocore.client import BaseClient

    real = BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        into.append({"service": service, "operation": operation_name, "params": api_params})
        return real(self, operation_name, api_params)

    BaseClient._make_api_call = recording  # type: ignore[method-assign]


def _baseline(calls: list[dict[str, Any]], slack: dict[str, Any] | None) -> None:
    """What a handler written with nothing but boto3 would do: the same calls, in order."""
    import boto3
    from botocore.exceptions import ClientError

    session = boto3.session.Session()
    clients: dict[str, Any] = {}
    for call in calls:
        service = call["service"]
        if service not in clients:
            clients[service] = session.client(service)
        client = clients[service]
        method = getattr(client, _snake(call["operation"]))
        # e.g. a conditional write that lost, as it may in the real handler too
        with contextlib.suppress(ClientError):
            method(**call["params"])
    if slack:
        import urllib.request

        request = urllib.request.Request(
            slack["url"],
            data=json.dumps(slack["message"]).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()


def _snake(name: str) -> str:
    out = []
    for i, char in enumerate(name):
        if char.isupper() and i and (not name[i - 1].isupper()):
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def _peak_rss_kib() -> int:
    """Peak RSS of this process. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the
    parent across fork and exec, so a small child of a big parent would report the parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str]) -> None:
    mode, out = argv[0], Path(argv[-1])
    event: Any = None
    if mode in ("handler", "record"):
        event = json.loads(Path(argv[2]).read_text(encoding="utf-8"))
    baseline_calls: list[dict[str, Any]] = []
    slack: dict[str, Any] | None = None
    if mode == "baseline":
        recorded = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        baseline_calls, slack = recorded["calls"], recorded.get("slack")
    calls: list[dict[str, Any]] = []

    start = time.perf_counter()
    imported = start
    if mode == "import-boto3":
        import boto3

        imported = time.perf_counter()
    elif mode == "import":
        importlib.import_module(f"batchcron.handlers.{argv[1]}")
        imported = time.perf_counter()
    elif mode in ("handler", "record"):
        if mode == "record":
            _record_calls(calls)
        module = importlib.import_module(f"batchcron.handlers.{argv[1]}")
        imported = time.perf_counter()
        module.handler(event, Context())
    elif mode == "baseline":
        import boto3  # noqa: F401

        imported = time.perf_counter()
        _baseline(baseline_calls, slack)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "import_seconds": imported - start,
        "max_rss_kib": _peak_rss_kib(),
    }
    if mode == "record":
        result["calls"] = calls
    out.write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
