"""The status page in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`) driven by Selenium against `batchcron local`.

`make test` installs Chromium with apt-get when it is missing and the user is root; otherwise
this test is skipped with the reason. `UI_SCREENSHOT=path` also writes the grid's screenshot
there (README.md's is made so).
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from batchcron.catalogue.loading import load_catalogue
from batchcron.ui.text import run_href
from tests.e2e.test_local import (  # noqa: F401  (start_local: the fixture)
    MONTH_START,
    QUIET_FUTURE,
    Local,
    slots_within,
    start_local,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".node" / "node_modules" / "axe-core" / "axe.min.js"  # `make node-tools`
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 90.0  # generous: the machine may be busy
REPLAY = timedelta(hours=24)
QUIET = timedelta(hours=1)  # longer than the test runs


def jobs_for(instant: str) -> tuple[str, str]:
    """From the catalogue and the instant local mode starts at: a job the replayed day gives a
    run (made to fail), and one with no run of its own in that day or for an hour after, nor
    any `after:` link that could start it (for "Run now")."""
    catalogue = load_catalogue()
    linked = {up for job in catalogue.jobs.values() if job.after for up in job.after.jobs}
    replayed = slots_within(instant, REPLAY, timedelta(0))
    busy = slots_within(instant, REPLAY, QUIET)
    failing = next(job.name for job in catalogue.scheduled() if job.name in replayed)
    quiet = next(
        job.name
        for job in catalogue.scheduled()
        if job.name not in busy and job.name not in linked and not job.after
    )
    return failing, quiet


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            f"no Chromium ({CHROMIUM}, {CHROMEDRIVER}): `make test` installs Debian's chromium "
            "and chromium-driver when run as root; or `apt-get install chromium chromium-driver`"
        )
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1360,900",
        "--hide-scrollbars",
    ):
        options.add_argument(argument)
    service = webdriver.ChromeService(
        executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")
    )
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def axe_source() -> str | None:
    """axe-core's script, installed by `make node-tools` (npm) when it is missing."""
    import subprocess

    if not AXE.exists() and shutil.which("npm") and shutil.which("make"):
        subprocess.run(["make", "--no-print-directory", "node-tools"], cwd=ROOT, check=False)
    return AXE.read_text(encoding="utf-8") if AXE.exists() else None


def audit(browser: Any, url: str, name: str, shots: Path, axe: str | None) -> None:
    """At 1360 and 390 px: a screenshot, no sideways scrolling; at 390 px axe-core finds no
    serious or critical violation."""
    for width, height in ((1360, 900), (390, 844)):
        browser.set_window_size(width, height)
        browser.get(url)
        inner = browser.execute_script("return window.innerWidth")
        scroll = browser.execute_script("return document.documentElement.scrollWidth")
        shot = shots / f"{name}-{width}.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 5_000
        wide = browser.execute_script(
            "return Array.from(document.querySelectorAll('body *'))"
            ".filter(function (e) { return e.getBoundingClientRect().right > window.innerWidth; })"
            ".slice(0, 5).map(function (e) { return e.tagName + '.' + e.className + ' '"
            " + Math.round(e.getBoundingClientRect().right); });"
        )
        assert scroll <= inner, f"{name} at {width} px scrolls sideways: {scroll} > {inner} {wide}"
        if axe is None:
            continue
        browser.execute_script(axe)
        found = browser.execute_async_script(
            "var done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(function (r) { done(r.violations.map(function (v) {"
            " return [v.id, v.impact, v.nodes.length, v.help]; })); })"
            ".catch(function (e) { done([['axe-error', 'critical', 0, String(e)]]); });"
        )
        bad = [v for v in found if v[1] in ("serious", "critical")]
        assert not bad, f"{name} at {width} px: {bad}"


def request(url: str, *, host: str | None = None, data: bytes | None = None) -> tuple[int, str]:
    headers = {"Host": host} if host else {}
    call = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_the_status_page_in_a_browser(
    start_local: Callable[..., Local],  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # A month's start: the replayed day holds the monthly slots (the 1st, as ever 12 days a
    # year, used to give the "Run now" job a run of its own when it was picked by hand).
    failing, run_now = jobs_for(MONTH_START)
    local = start_local("--replay", "24h", "--fail", failing, "--pace", "0.2", now=MONTH_START)
    base = f"http://127.0.0.1:{local.port}"
    wait = WebDriverWait(browser, WAIT, poll_frequency=0.25)

    def rows() -> set[str]:
        return {
            row.get_attribute("data-job")
            for row in browser.find_elements(By.CSS_SELECTOR, "tr.job-row")
        }

    # Given local mode, one job failing: the grid has a row for every catalogue job, on the
    # set clock (updated in March 2027).
    browser.get(base + "/")
    assert set(load_catalogue().jobs) <= rows()
    updated = browser.find_element(By.CSS_SELECTOR, ".summary").get_attribute("data-rendered")
    assert (updated or "").startswith("2027-03-01 00:"), updated

    # The grid refreshes itself in place (no reload) until the failed run's cell shows.
    browser.execute_script("window.notReloaded = true")
    first = browser.find_element(By.CSS_SELECTOR, ".summary").get_attribute("data-rendered")
    failed = f'tr[data-job="{failing}"] a.cell[aria-label^="FAILED "]'  # its words, first
    wait.until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, failed)
            and d.find_element(By.CSS_SELECTOR, ".summary").get_attribute("data-rendered") != first
        )
    )
    assert browser.execute_script("return window.notReloaded") is True
    cell = browser.find_element(By.CSS_SELECTOR, failed)
    assert "FAILED" in (cell.get_attribute("aria-label") or "")

    # Its cell opens the run: exit code, reason, attempts and the log's lines.
    cell.click()
    wait.until(lambda d: d.find_elements(By.ID, "exit-code"))
    assert browser.find_element(By.ID, "run-status").text == "FAILED"
    assert browser.find_element(By.ID, "exit-code").text == "2"
    assert "Essential container in task exited" in browser.find_element(By.ID, "reason").text
    assert "Error 2" in browser.find_element(By.ID, "log").text
    assert not browser.find_elements(By.ID, "cancel")  # a finished run offers no Cancel

    # The grid, the failing job's page and its failed run's page fit a phone (the grid as one
    # card per job, its newest squares under the name) and pass axe-core's audit.
    shots = Path(os.environ.get("UI_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    axe = axe_source()
    browser.set_script_timeout(WAIT)
    run_url = browser.current_url
    for name, url in (
        ("grid", base + "/"),
        ("job", f"{base}/jobs/{failing}"),
        ("failed-run", run_url),
    ):
        audit(browser, url, name, shots, axe)
    browser.set_window_size(390, 844)
    browser.get(base + "/")
    card = browser.find_element(By.CSS_SELECTOR, f'tr[data-job="{failing}"]')
    name_box = card.find_element(By.CSS_SELECTOR, "th.job").rect
    squares = [c for c in card.find_elements(By.CSS_SELECTOR, "a.cell") if c.is_displayed()]
    assert 1 <= len(squares) <= 10
    assert all(c.rect["x"] >= 0 and c.rect["x"] + c.rect["width"] <= 390 for c in squares)
    assert squares[0].rect["y"] > name_box["y"]  # under the name, on screen with it
    browser.set_window_size(1360, 900)

    # "Run now" on another job submits a run through the submit path; the page says so.
    browser.get(f"{base}/jobs/{run_now}")
    assert not browser.find_elements(By.CSS_SELECTOR, "#history tr[data-run]")
    browser.find_element(By.ID, "run-now").click()
    flash = wait.until(lambda d: d.find_elements(By.ID, "flash"))[0].text
    assert flash.startswith(f"submitted {run_now}-"), flash
    run_id = flash.split()[1]
    assert browser.find_elements(By.CSS_SELECTOR, f'#history tr[data-run="{run_id}"]')
    assert any(run["run_id"] == run_id for run in local.runs(run_now))

    # ...and the new run appears on the grid, where it ends SUCCEEDED.
    browser.get(base + "/")
    wait.until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, f'a.cell[href="{run_href(run_now, run_id)}"][aria-label^="SUCCEEDED "]'
        )
    )

    # A foreign Host (DNS rebinding) and a POST without the page's token are refused.
    status, body = request(base + "/", host=f"rebind.example:{local.port}")
    assert status == 403 and "Host" in body
    status, body = request(base + "/actions/pause", data=f"job={run_now}".encode())
    assert status == 403 and "token" in body
    status, body = request(base + "/actions/pause", data=f"job={run_now}&token=guess".encode())
    assert status == 403
    status, body = request(base + "/api/status")
    assert status == 200 and '"paused": false' in body

    # A screenshot of the grid once every run has settled.
    if os.environ.get("UI_SCREENSHOT"):  # README's: a few rounds of history first
        browser.get(f"{base}/jobs/{run_now}")
        token = browser.find_element(By.NAME, "token").get_attribute("value")
        for _ in range(4):
            for job in load_catalogue().jobs:
                status, _ = request(base + "/actions/run", data=f"job={job}&token={token}".encode())
                assert status == 200  # after the redirect
            browser.get(base + "/")
            wait.until(
                lambda d: not d.find_elements(By.CSS_SELECTOR, "a.cell.s-running, a.cell.s-waiting")
            )
        status, _ = request(base + "/actions/pause", data=f"job=green-belt&token={token}".encode())
        assert status == 200
    browser.get(base + "/")
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "a.cell.s-running, a.cell.s-waiting"))
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1360, max(600, int(height) + 20))
    shot = tmp_path / "grid.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("UI_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["UI_SCREENSHOT"])

    assert local.interrupt() == 0
    assert "Traceback" not in local.output()
    if axe is None:
        pytest.skip("no npm to install axe-core (`make node-tools`): the axe audit did not run")


def test_batchcron_ui_serves_the_page_for_a_running_local_mode(
    start_local: Callable[..., Local],  # noqa: F811
    tmp_path: Path,
) -> None:
    import subprocess

    from tests.e2e.test_local import ROOT, batchcron, free_port, wait_for

    local = start_local("--pace", "0.2", now=QUIET_FUTURE)
    port = free_port()
    log = tmp_path / "ui.log"
    with log.open("wb") as sink:
        ui = subprocess.Popen(
            [batchcron(), "ui", "--port", str(port)],  # not a terminal: no browser
            env=local.env,
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for("the page", lambda: "status page" in log.read_text() or ui.poll() is not None)
        assert ui.poll() is None, log.read_text()
        assert f"{url}/" in log.read_text() and "local mode" in log.read_text()
        status, body = request(url + "/")
        assert status == 200 and 'data-job="parish"' in body
        status, _ = request(url + "/", host=f"localhost:{port}")
        assert status == 200
        status, _ = request(url + "/", host=f"evil.example:{port}")
        assert status == 403
        status, _ = request(url + "/actions/pause", data=b"job=parish")
        assert status == 403
    finally:
        ui.terminate()
        ui.wait(timeout=30)
