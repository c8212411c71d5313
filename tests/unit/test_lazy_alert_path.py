"""The dispatcher's cold start does not pay for the alert path: Slack's client, the message
layout and the notifier are imported only when there is an alert to send."""

from __future__ import annotations

import subprocess
import sys


def test_dispatcher_cold_path_does_not_import_the_alert_path() -> None:
    code = (
        "import sys, batchcron.handlers.dispatch, batchcron.wiring, batchcron.scheduling.dispatch\n"
        "print(' '.join(m for m in sys.modules if m.startswith(('slack_sdk', 'batchcron'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "batchcron.scheduling.dispatch" in loaded
    for lazy in (
        "slack_sdk",
        "batchcron.adapters.slack",
        "batchcron.outcomes.notify",
        "batchcron.outcomes.alerting",
    ):
        assert lazy not in loaded, loaded
