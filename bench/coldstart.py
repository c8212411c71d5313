"""Figure 1, cold start: each handler imported and invoked once with its sample event in a fresh
interpreter against the moto server, versus a minimal boto3 handler making the same AWS calls
(recorded from the real handler) in the same run; and `import` of each handler versus
`import boto3`. Medians of RUNS fresh processes; the handler and its baseline alternate."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    ROOT,
    MotoServer,
    Row,
    client_environment,
    command,
    median,
    pointed_at,
    provision_stack,
    verdict,
)

CHILD = Path(__file__).with_name("coldstart_child.py")
RUNS = 15
TARGET = 1.3
HANDLERS = {
    "dispatch": ("DispatchFunction", "dispatch_tick.json", "tick with 2 runs due"),
    "webhook": ("WebhookFunction", "github_push.json", "signed push, 1 run submitted"),
    "job_state": ("JobStateFunction", "batch_job_failed.json", "FAILED event, 1 Slack alert"),
}


def _prepare(handler: str, moto: MotoServer, slack_url: str) -> dict[str, str]:
    """A fresh stack for one cold start; the function's environment."""
    env = provision_stack(moto, slack_url=slack_url)
    if handler == "dispatch":
        # The sample tick is Sunday 2026-11-29 00:00 UTC: with the watermark a minute before,
        # the default catalogue's daily local-authority-district and weekly green-belt are due,
        # so the first invocation submits real runs.
        from batchcron.store.runs import RunStore

        with pointed_at(moto.endpoint, env):
            before = datetime(2026, 11, 28, 23, 59, tzinfo=UTC)
            RunStore(env["RUNS_TABLE"]).advance_watermark(before)
    return env


def _child(args: list[str], env: dict[str, str], out: Path) -> dict[str, Any]:
    subprocess.run(
        [PYTHON, str(CHILD), *args, str(out)],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def _environment(moto: MotoServer, function_env: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.pop("JOBS_FILE", None)
    env.update(client_environment(moto.endpoint))
    env.update(function_env)
    return env


def _tokenise(calls: list[dict[str, Any]], env: dict[str, str]) -> list[dict[str, Any]]:
    """Recorded parameters with this run's resource names replaced by ${NAME} (moto gives
    secrets a random ARN suffix, so each fresh stack differs)."""
    text = json.dumps(calls)
    for name, value in sorted(env.items(), key=lambda item: -len(item[1])):
        if value and len(value) > 8:
            text = text.replace(value, "${" + name + "}")
    tokenised: list[dict[str, Any]] = json.loads(text)
    return tokenised


def _detokenise(calls: list[dict[str, Any]], env: dict[str, str]) -> list[dict[str, Any]]:
    text = json.dumps(calls)
    for name, value in env.items():
        text = text.replace("${" + name + "}", value)
    restored: list[dict[str, Any]] = json.loads(text)
    return restored


def run(moto: MotoServer, runs: int = RUNS) -> tuple[list[Row], dict[str, Any]]:
    from batchcron.catalogue.build import compile_catalogue
    from batchcron.catalogue.loading import DEFAULT_JOBS_FILE
    from tests.fault_injection.fake_slack import FakeSlack

    # As `make build` does for the Lambda bundle: the functions read the compiled catalogue.
    compile_catalogue(DEFAULT_JOBS_FILE)
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    with FakeSlack() as slack, tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        work = Path(tmp)
        out = work / "out.json"
        for handler, (function, sample, what) in HANDLERS.items():
            event = ROOT / "events" / sample
            if handler == "webhook":
                # The sample with a head commit from now: an older push starts nothing.
                from tests.conftest import fresh_push_event

                event = work / sample
                event.write_text(json.dumps(fresh_push_event()), encoding="utf-8")
            env = _prepare(handler, moto, slack.url)
            before = len(slack.messages)
            recorded = _child(["record", handler, str(event)], _environment(moto, env), out)
            calls = _tokenise(recorded["calls"], env)
            posted = slack.messages[before:]
            times: dict[str, list[float]] = {"handler": [], "baseline": []}
            rss: dict[str, list[float]] = {"handler": [], "baseline": []}
            for _ in range(runs):
                for kind in ("handler", "baseline"):
                    env = _prepare(handler, moto, slack.url)
                    child_env = _environment(moto, env)
                    if kind == "handler":
                        args = ["handler", handler, str(event)]
                    else:
                        spec = {
                            "calls": _detokenise(calls, env),
                            "slack": {"url": slack.url, "message": posted[0]} if posted else None,
                        }
                        calls_file = work / "calls.json"
                        calls_file.write_text(json.dumps(spec), encoding="utf-8")
                        args = ["baseline", str(calls_file)]
                    result = _child(args, child_env, out)
                    times[kind].append(result["seconds"])
                    rss[kind].append(result["max_rss_kib"] / 1024)
            operations = sorted({f"{c['service']}:{c['operation']}" for c in calls})
            t_ratio = median(times["handler"]) / median(times["baseline"])
            m_ratio = median(rss["handler"]) / median(rss["baseline"])
            raw[handler] = {"times": times, "rss_mib": rss, "calls": len(calls)}
            rows.append(
                Row(
                    f"Cold start {function}: import + first invocation ({what})",
                    f"{median(times['handler']) * 1000:.0f} ms",
                    f"boto3-only handler, same {len(calls)} AWS calls"
                    f"{' + the Slack post' if posted else ''}: "
                    f"{median(times['baseline']) * 1000:.0f} ms",
                    f"{t_ratio:.2f}×",
                    verdict(t_ratio, TARGET),
                    f"{command('coldstart')}; median of {runs} fresh processes, "
                    "catalogue compiled as `make build` does, "
                    f"moto server; calls: {', '.join(operations)}",
                )
            )
            rows.append(
                Row(
                    f"Cold start {function}: peak RSS",
                    f"{median(rss['handler']):.1f} MiB",
                    f"boto3-only handler: {median(rss['baseline']):.1f} MiB",
                    f"{m_ratio:.2f}×",
                    verdict(m_ratio, TARGET),
                    f"{command('coldstart')}; peak RSS (VmHWM) of the same processes",
                )
            )
        imports: dict[str, list[float]] = {"boto3": [], **{h: [] for h in HANDLERS}}
        env = _environment(moto, {})
        for _ in range(runs):
            imports["boto3"].append(_child(["import-boto3"], env, out)["import_seconds"])
            for handler in HANDLERS:
                result = _child(["import", handler], env, out)
                imports[handler].append(result["import_seconds"])
        raw["imports"] = imports
        boto3_ms = median(imports["boto3"]) * 1000
        for handler, (function, _, _) in HANDLERS.items():
            value = median(imports[handler]) * 1000
            rows.append(
                Row(
                    f"Import alone: batchcron.handlers.{handler} ({function})",
                    f"{value:.0f} ms",
                    f"`import boto3`: {boto3_ms:.0f} ms",
                    f"{value / boto3_ms:.2f}×",
                    verdict(value / boto3_ms, TARGET),
                    f"{command('coldstart')}; median of {runs} fresh processes",
                )
            )
    return rows, raw
