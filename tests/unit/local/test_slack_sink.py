"""Local mode's Slack sink in Slack app mode: it answers the Web API calls batchcron makes as
Slack does, and the console prints a thread reply indented under its first message."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from batchcron.adapters.slack_app import SlackApp
from batchcron.local.http import slack_sink
from batchcron.local.view import RunView


def test_the_sink_speaks_the_web_api_and_prints_threads_indented() -> None:
    out = io.StringIO()
    view = RunView(Console(file=out, width=100, color_system=None), live=False)
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(method: str, args: dict[str, Any]) -> None:
        calls.append((method, args))
        view.slack_call(method, args)

    sink = slack_sink(view.alert, record)
    sink.start()
    try:
        app = SlackApp("xoxb-local", f"{sink.url}/api/")
        ts = app.post("C0LOCAL", {"text": ":x: nightly failed"})
        app.post("C0LOCAL", {"text": ":x: nightly still failing (2 in a row)"}, thread_ts=ts)
        app.update("C0LOCAL", ts, {"text": "nightly failed - recovered 02:14 by nightly-3"})
        app.ephemeral("C0LOCAL", "U0CA5", "Not allowed")
    finally:
        sink.stop()

    assert [method for method, _ in calls] == [
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
    ]
    assert ts and calls[1][1]["thread_ts"] == ts
    printed = out.getvalue()
    assert "nightly failed" in printed
    assert "    ↳ in thread: ❌ nightly still failing (2 in a row)" in printed
    assert "    ✎ first message edited" in printed
    assert "(only U0CA5 sees)" in printed
