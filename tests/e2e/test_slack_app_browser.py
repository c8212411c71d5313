"""Slack app mode on the status page in a real browser: local mode with --slack-app, a failed
run's page shows its alert as Slack would, and its Re-run button sends a signed interaction to
local mode's POST /slack/actions (the handler's own path) that starts a new run.

`ALERT_SCREENSHOT=path` also writes the alert's screenshot there (docs/alerts.md's,
docs/images/alert-run-page.png, is made so).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local import MONTH_START, Local, start_local  # noqa: F401  (the fixture)
from tests.e2e.test_ui_browser import (  # noqa: F401  (browser: the fixture)
    WAIT,
    audit,
    axe_source,
    browser,
    jobs_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_re_run_from_the_alert_on_the_run_page(
    start_local: Callable[..., Local],  # noqa: F811
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    failing, _ = jobs_for(MONTH_START)
    local = start_local(
        "--slack-app", "--replay", "24h", "--fail", failing, "--pace", "0.2", now=MONTH_START
    )
    base = f"http://127.0.0.1:{local.port}"
    wait = WebDriverWait(browser, WAIT, poll_frequency=0.25)

    # Given a failed run whose alert went out (to the sink, through the Web API)...
    def failed_run() -> str | None:
        runs = [r for r in local.runs(failing) if r["status"] == "FAILED" and r.get("alert")]
        return runs[0]["run_id"] if runs else None

    wait.until(lambda _: failed_run())
    run_id = failed_run()
    before = {run["run_id"] for run in local.runs(failing)}

    # ...its page shows the alert as Slack would: header, fields, links and the buttons.
    run_url = f"{base}/runs/{failing}/{run_id}"
    browser.get(run_url)
    alert = browser.find_element(By.ID, "slack-alert")
    assert "failed" in alert.find_element(By.CSS_SELECTOR, ".slack-header").text.lower()
    assert run_id in alert.text and failing in alert.text
    labels = [b.text for b in alert.find_elements(By.CSS_SELECTOR, "button.slack-button")]
    assert labels == ["Re-run", "Pause job", "Acknowledge"], labels
    assert "&lt;" not in alert.text and "<http" not in alert.text  # mrkdwn rendered, not shown
    assert alert.find_elements(By.CSS_SELECTOR, ".slack-fields strong, .slack-fields code")

    axe = axe_source()
    browser.set_script_timeout(WAIT)
    audit(browser, run_url, "slack-run", Path(os.environ.get("UI_SHOTS") or tmp_path), axe)
    browser.set_window_size(1360, 900)

    if os.environ.get("ALERT_SCREENSHOT"):
        browser.get(run_url)
        element = browser.find_element(By.ID, "slack-alert")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        shot = tmp_path / "alert.png"
        assert element.screenshot(str(shot))
        shutil.copyfile(shot, os.environ["ALERT_SCREENSHOT"])

    # Re-run: the page flashes the handler's answer, naming the new run...
    browser.get(run_url)
    browser.find_element(By.ID, "slack-rerun").click()
    flash = wait.until(lambda d: d.find_elements(By.ID, "flash"))[0].text
    assert flash.startswith("Slack rerun: re-run by @local-user: "), flash
    new_run = flash.rsplit(": ", 1)[1]
    assert new_run.startswith(f"{failing}-") and new_run not in before
    run = next(r for r in local.runs(failing) if r["run_id"] == new_run)
    assert run["trigger"] == "manual" and run.get("pusher") == "local-user"
    assert browser.current_url.startswith(run_url)

    # ...and the message was updated through the press's response_url, on the sink.
    wait.until(lambda _: f"re-run by @local-user: {new_run}" in local.output())

    # The job page's history has the new run.
    browser.get(f"{base}/jobs/{failing}")
    assert browser.find_elements(By.CSS_SELECTOR, f'#history tr[data-run="{new_run}"]')

    assert local.interrupt() == 0
    assert "Traceback" not in local.output()
    if axe is None:
        pytest.skip("no npm to install axe-core (`make node-tools`): the axe audit did not run")
