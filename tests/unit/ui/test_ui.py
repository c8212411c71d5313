"""The status page's views and checks, without AWS: an in-memory source behind the real app,
templates and security checks."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import Catalogue
from batchcron.models import Attempt, JobState, Run, Status
from batchcron.store.recent import RECENT_KEEP, run_cell
from batchcron.ui import grid, text
from batchcron.ui import text as text_module
from batchcron.ui.app import Request, Response, StatusPage
from batchcron.ui.source import Source

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PORT = 8321
HOST = {"host": f"127.0.0.1:{PORT}"}
MARKUP = '<script>alert("x")</script>'

CATALOGUE = """
jobs:
  parish:
    repository: digital-land/parish-collection
    schedule: "0 0 * * *"
  green-belt:
    repository: digital-land/green-belt-collection
    schedule: "0 6 * * 1"
  entity-builder:
    repository: digital-land/entity-builder
    script: builder
"""


def run(job: str, n: int, status: Status = Status.SUCCEEDED, **extra: Any) -> Run:
    return Run(
        job=job,
        run_id=f"{job}-2026113{n % 10}T0000",
        trigger="schedule",
        status=status,
        created_at=f"2026-11-{10 + n:02d}T00:00:00.000Z",
        started_at=f"2026-11-{10 + n:02d}T00:01:00.000Z",
        stopped_at=f"2026-11-{10 + n:02d}T00:03:30.000Z",
        **extra,
    )


class FakeSource(Source):
    """The page's reads from memory (the real Source reads the same through the run store)."""

    def __init__(self, catalogue: Catalogue, runs: dict[str, list[Run]]) -> None:
        super().__init__(region="eu-west-2", log_group="/batchcron/jobs", console_links=True)
        self._catalogue = catalogue
        self._runs = runs  # newest first
        self.job_states: dict[str, JobState] = {}
        self.failing_reads: set[str] = set()
        self.without_recent: set[str] = set()  # jobs whose runs predate their RECENT item
        self.bad_cells: dict[str, dict[str, Any]] = {}
        self.lines: list[tuple[int, str]] = []

    def catalogue(self) -> Catalogue:
        return self._catalogue

    def states(self) -> dict[str, JobState]:
        return dict(self.job_states)

    def state(self, job: str) -> JobState:
        return self.job_states.get(job) or JobState(job=job)

    def runs(self, job: str, limit: int) -> list[Run]:
        if job in self.failing_reads:
            raise RuntimeError("throttled")
        return self._runs.get(job, [])[:limit]

    def recent(self) -> dict[str, dict[str, Any] | BaseException]:
        if "*" in self.failing_reads:
            raise RuntimeError("throttled")
        found: dict[str, dict[str, Any] | BaseException] = {
            job: {run.run_id: run_cell(run.model_dump()) for run in runs}
            for job, runs in self._runs.items()
            if job not in self.without_recent
        }
        for job, cells in self.bad_cells.items():
            found[job] = {**found.get(job, {}), **cells}  # type: ignore[dict-item]
        return found

    def recent_runs(self, limit: int) -> list[Run]:
        found = [r for runs in self._runs.values() for r in runs]
        return sorted(found, key=lambda r: r.created_at, reverse=True)[:limit]

    def run(self, job: str, run_id: str) -> Run | None:
        return next((r for r in self._runs.get(job, []) if r.run_id == run_id), None)

    def log_tail(self, run: Run, limit: int) -> tuple[list[tuple[int, str]], str]:
        return self.lines[-limit:], "" if self.lines else "no log stream yet"


@pytest.fixture
def source() -> FakeSource:
    runs = {
        "parish": [run("parish", n) for n in range(8, 0, -1)],
        "green-belt": [
            run(
                "green-belt",
                2,
                Status.FAILED,
                exit_code=2,
                reason=f"Essential container exited {MARKUP}",
                attempts=[Attempt(exit_code=2, reason="exit 2", log_stream="jobs/x/1")],
            ),
            run("green-belt", 1),
        ],
    }
    return FakeSource(parse_catalogue(CATALOGUE), runs)


def page(source: FakeSource) -> StatusPage:
    return StatusPage(source, port=PORT, token="t0ken", clock=lambda: NOW)


def get(app: StatusPage, target: str, headers: dict[str, str] | None = None) -> Response:
    return app.handle(Request.from_target("GET", target, headers if headers is not None else HOST))


def post(
    app: StatusPage, target: str, form: str, headers: dict[str, str] | None = None
) -> Response:
    return app.handle(
        Request.from_target("POST", target, headers or HOST, body=form.encode("utf-8"))
    )


def html(response: Response) -> str:
    assert response.status == 200, response.body[:500]
    return response.body.decode("utf-8")


# --- the grid ------------------------------------------------------------------------------------


def test_grid_has_a_row_per_catalogue_job_and_per_foreign_job_seen(source: FakeSource) -> None:
    source.job_states["someone-elses"] = JobState(job="someone-elses", consecutive_failures=1)
    text = html(get(page(source), "/"))
    rows = re.findall(r'data-job="([^"]+)"', text)
    assert rows == ["parish", "green-belt", "entity-builder", "someone-elses"]
    assert "not in catalogue" in text


def test_grid_cells_run_oldest_to_newest_and_say_their_status_in_text(source: FakeSource) -> None:
    text = html(get(page(source), "/"))
    cells = re.findall(r'href="/runs/parish/([^"]+)" aria-label="(SUCCEEDED[^"]*)"', text)
    assert [run_id for run_id, _ in cells] == [f"parish-2026113{n}T0000" for n in range(1, 9)]
    assert 'aria-label="FAILED · green-belt-20261132T0000' in text
    assert "failed, submit failed or missed" in text  # the legend


def test_grid_keeps_the_last_25_runs(source: FakeSource) -> None:
    source._runs["parish"] = [run("parish", n % 9) for n in range(40)]
    row = grid.grid_row(
        "parish",
        source.catalogue().jobs["parish"],
        JobState(job="parish"),
        source._runs["parish"],
        NOW,
        describe=str,
        next_slot=lambda *_: None,
    )
    assert len(row.cells) == 25


def test_grid_row_shows_schedule_next_slot_streak_paused_and_last_success(
    source: FakeSource,
) -> None:
    source.job_states["green-belt"] = JobState(
        job="green-belt",
        paused=True,
        consecutive_failures=3,
        last_success_at="2026-11-30T09:00:00.000Z",
    )
    text = html(get(page(source), "/"))
    row = text[text.index('data-job="green-belt"') :]
    row = row[: row.index("</tr>")]
    assert "At 06:00, only on Monday" in row
    assert 'class="badge paused">paused' in row
    assert '<span class="bad">3</span>' in row
    assert "3 h ago" in row
    parish = text[text.index('data-job="parish"') :]
    assert "2026-12-01 00:00 UTC" in parish[: parish.index("</tr>")]  # next slot


def test_grid_shows_upstream_jobs_as_links_and_when_the_job_starts(source: FakeSource) -> None:
    # Given a catalogue job that runs after two others and has no schedule of its own
    catalogue = parse_catalogue(
        CATALOGUE
        + "  builder:\n    repository: acme/builder\n"
        + "    after: {jobs: [parish, green-belt]}\n"
    )
    source._catalogue = catalogue

    # When the grid is rendered
    text = html(get(page(source), "/"))

    # Then its row names each upstream as a link, and says when it starts
    row = text[text.index('data-job="builder"') :]
    row = row[: row.index("</tr>")]
    assert '<a href="/jobs/parish">parish</a>, <a href="/jobs/green-belt">green-belt</a>' in row
    assert "after its upstream jobs" in row
    assert "After(" not in row
    assert text_module.upstream_of(catalogue.jobs["builder"]) == ["parish", "green-belt"]
    assert text_module.upstream_of(None) == []


def test_one_job_whose_runs_cannot_be_read_does_not_hide_the_others(source: FakeSource) -> None:
    # Given green-belt's runs predate its RECENT item, so its row is read from its runs
    source.without_recent.add("green-belt")
    source.job_states["green-belt"] = JobState(job="green-belt")
    source.failing_reads.add("green-belt")
    text = html(get(page(source), "/"))
    assert "could not read runs: RuntimeError: throttled" in text
    assert text.count('href="/runs/parish/') == 8


def test_grid_reads_a_job_without_a_recent_item_from_its_runs(source: FakeSource) -> None:
    source.without_recent.add("green-belt")
    source.job_states["green-belt"] = JobState(job="green-belt")
    text = html(get(page(source), "/"))
    assert text.count('href="/runs/green-belt/') == 2
    assert 'aria-label="FAILED · green-belt-20261132T0000' in text


def test_a_malformed_cell_costs_its_row_only(source: FakeSource) -> None:
    source.bad_cells["green-belt"] = {"green-belt-20261139T0000": {"s": "EXPLODED", "v": 1}}
    text = html(get(page(source), "/"))
    row = text[text.index('data-job="green-belt"') :]
    assert "could not read runs" in row[: row.index("</tr>")]
    assert text.count('href="/runs/parish/') == 8


def test_the_grid_still_renders_when_the_newest_runs_cannot_be_read(source: FakeSource) -> None:
    source.failing_reads.add("*")
    text = html(get(page(source), "/"))
    assert re.findall(r'data-job="([^"]+)"', text) == ["parish", "green-belt", "entity-builder"]
    assert text.count("could not read runs: RuntimeError: throttled") == 3


def test_the_store_keeps_at_least_as_many_runs_per_job_as_the_grid_shows() -> None:
    assert text_module.GRID_RUNS <= RECENT_KEEP


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("?status=FAILED", ["green-belt"]),
        ("?status=failing", ["green-belt"]),
        ("?status=succeeded", ["parish"]),
        ("?q=builder", ["entity-builder"]),
        ("?q=PAR&status=SUCCEEDED", ["parish"]),
        ("?status=nonsense", ["parish", "green-belt", "entity-builder"]),
    ],
)
def test_grid_filters_by_status_and_name(source: FakeSource, query: str, rows: list[str]) -> None:
    assert re.findall(r'data-job="([^"]+)"', html(get(page(source), "/" + query))) == rows


def test_grid_fragment_is_what_the_page_refreshes(source: FakeSource) -> None:
    fragment = html(get(page(source), "/grid?q=parish"))
    assert "<html" not in fragment and 'data-job="parish"' in fragment
    assert 'data-job="green-belt"' not in fragment


# --- escaping ------------------------------------------------------------------------------------


def test_markup_in_reasons_is_escaped_everywhere(source: FakeSource) -> None:
    app = page(source)
    run_id = "green-belt-20261132T0000"
    for target in ("/", "/jobs/green-belt", f"/runs/green-belt/{run_id}"):
        text = html(get(app, target))
        assert "<script>alert" not in text, target
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html(
        get(app, f"/runs/green-belt/{run_id}")
    )


def test_markup_in_foreign_job_names_and_log_lines_is_escaped(source: FakeSource) -> None:
    name = '"><img src=x onerror=alert(1)>'
    source.job_states[name] = JobState(job=name)
    source._runs[name] = [run(name, 1, Status.FAILED, reason=MARKUP)]
    source.lines = [(0, MARKUP)]
    app = page(source)
    grid = html(get(app, "/"))
    assert "<img src=x" not in grid and "&lt;img src=x onerror=alert(1)&gt;" in grid
    job = html(get(app, "/jobs/" + text.job_href(name).removeprefix("/jobs/")))
    assert "<img src=x" not in job
    run_page = html(get(app, text.run_href(name, source._runs[name][0].run_id)))
    assert "<script>" not in run_page and "&lt;script&gt;" in run_page


def test_markup_in_the_filter_is_escaped(source: FakeSource) -> None:
    text = html(get(page(source), '/?q="><script>x</script>'))
    assert "<script>x" not in text


# --- job and run pages ------------------------------------------------------------------------


def test_job_page_has_settings_history_chart_and_buttons(source: FakeSource) -> None:
    text = html(get(page(source), "/jobs/green-belt"))
    assert "repository</th><td><code>digital-land/green-belt-collection" in text
    assert "timeout_minutes</th><td><code>720" in text  # a default, resolved
    assert text.count('<tr data-run="') == 2
    assert text.count('<rect class="bar s-failed"') == 1
    assert text.count('<rect class="bar s-ok"') == 1
    assert 'action="/actions/run"' in text and 'value="t0ken"' in text
    assert 'action="/actions/pause"' in text


def test_run_page_shows_exit_code_reason_attempts_log_and_console_links(
    source: FakeSource,
) -> None:
    source.lines = [(1764504000000 + i, f"line {i}") for i in range(300)]
    text = html(get(page(source), "/runs/green-belt/green-belt-20261132T0000"))
    assert '<dd id="exit-code">2</dd>' in text
    assert "Essential container exited" in text
    assert '<td>1</td><td>2</td><td class="reason">exit 2</td>' in text
    assert "line 299" in text and "line 99\n" not in text and "line 100" in text
    assert "https://eu-west-2.console.aws.amazon.com/batch/home" not in text  # no batch job id
    assert "log-group/$252Fbatchcron$252Fjobs/log-events/jobs$252Fx$252F1" in text


def test_unknown_pages_are_404(source: FakeSource) -> None:
    app = page(source)
    assert get(app, "/jobs/nobody").status == 404
    assert get(app, "/runs/parish/parish-nope").status == 404
    assert get(app, "/etc/passwd").status == 404
    assert get(app, "/static/../app.py").status == 404


def test_static_files_are_served_from_the_package(source: FakeSource) -> None:
    response = get(page(source), "/static/ui.css")
    assert response.status == 200 and response.content_type.startswith("text/css")
    assert b".cell" in response.body
    assert response.headers["Cache-Control"] == "max-age=300"


def test_pages_link_static_files_by_digest_and_that_copy_is_kept_for_good(
    source: FakeSource,
) -> None:
    app = page(source)
    text = html(get(app, "/"))
    found = re.search(r'href="(/static/ui\.css\?v=([0-9a-f]{12}))"', text)
    assert found, "the stylesheet's link names its digest"
    digest = hashlib.sha256(get(app, "/static/ui.css").body).hexdigest()[:12]
    assert found.group(2) == digest
    kept = get(app, found.group(1))
    assert kept.status == 200 and kept.headers["Cache-Control"] == "max-age=31536000, immutable"
    stale = get(app, "/static/ui.css?v=000000000000")  # an old page's link: not kept for good
    assert stale.status == 200 and stale.headers["Cache-Control"] == "max-age=300"
    assert re.search(r'src="/static/ui\.js\?v=[0-9a-f]{12}"', text)


def test_grid_squares_are_named_once_and_a_phone_hides_the_older_ones(source: FakeSource) -> None:
    runs = [run("parish", n % 9) for n in range(40)]
    source._runs["parish"] = [
        r.model_copy(update={"run_id": f"parish-{n:02d}"}) for n, r in enumerate(runs)
    ]
    text = html(get(page(source), "/"))
    row = text[text.index('data-job="parish"') : text.index('data-job="green-belt"')]
    assert row.count('class="cell ') == 25
    strip = row[row.index('class="strip"') : row.index("</td>")]
    assert "title=" not in strip and "data-run" not in strip  # its words: its aria-label only
    older = row[row.index('<span class="older">') :]
    assert older[: older.index("</span>")].count('class="cell ') == 15


# --- JSON ------------------------------------------------------------------------------------


def test_api_status_and_runs(source: FakeSource) -> None:
    app = page(source)
    status = json.loads(get(app, "/api/status").body)
    assert [row["job"] for row in status] == ["parish", "green-belt", "entity-builder"]
    assert status[1]["failing"] is True and status[1]["runs"][-1]["status"] == "FAILED"
    runs = json.loads(get(app, "/api/runs?job=parish&limit=3").body)
    assert [r["run_id"] for r in runs] == [f"parish-2026113{n}T0000" for n in (8, 7, 6)]
    assert len(json.loads(get(app, "/api/runs").body)) == 10
    assert get(app, "/api/runs?limit=0").status == 400
    assert get(app, "/api/runs?limit=abc").status == 400


# --- security ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example:8321", "127.0.0.1:9999", "localhost", "", "127.0.0.1.evil.example:8321"]
)
def test_a_foreign_host_is_refused(source: FakeSource, host: str) -> None:
    response = get(page(source), "/", {"host": host} if host else {})
    assert response.status == 403
    assert "Host" in response.body.decode()


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"LOCALHOST:{PORT}"])
def test_the_page_own_hosts_are_allowed(source: FakeSource, host: str) -> None:
    assert get(page(source), "/", {"host": host}).status == 200


def test_a_page_without_a_port_yet_refuses_everything(source: FakeSource) -> None:
    app = StatusPage(source, token="t0ken")
    assert get(app, "/").status == 403


@pytest.mark.parametrize("form", ["job=parish", "job=parish&token=", "job=parish&token=wrong"])
def test_a_post_without_the_token_is_refused_and_does_nothing(
    source: FakeSource, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[str] = []
    monkeypatch.setattr("batchcron.wiring.control", lambda: called.append("x"))
    response = post(page(source), "/actions/pause", form)
    assert response.status == 403 and "token" in response.body.decode()
    assert called == []


def test_a_post_with_the_token_acts_and_shows_the_result(
    source: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[tuple[str, bool]] = []

    class Control:
        def set_paused(self, job: str, paused: bool, **_: object) -> str:
            called.append((job, paused))
            return f"{job} paused"

    monkeypatch.setattr("batchcron.wiring.control", Control)
    app = page(source)
    response = post(app, "/actions/pause", "job=parish&token=t0ken")
    assert response.status == 303 and called == [("parish", True)]
    location = response.headers["Location"]
    assert location.startswith("/jobs/parish?flash=")
    assert 'id="flash">parish paused</p>' in html(get(app, location))


def test_state_changes_need_a_post(source: FakeSource) -> None:
    app = page(source)
    assert get(app, "/actions/pause?job=parish&token=t0ken").status == 404
    response = app.handle(Request.from_target("DELETE", "/", HOST))
    assert response.status == 405


def test_responses_forbid_framing_and_inline_script(source: FakeSource) -> None:
    headers = get(page(source), "/").all_headers()
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


# --- where the page is (and is not) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target", "webhook"),
    [
        ("POST", "/github", True),
        ("POST", "/", True),
        ("GET", "/github", True),
        ("POST", "/github?x=1", True),
        ("GET", "/", False),
        ("GET", "/?status=FAILED", False),
        ("GET", "/jobs/parish", False),
        ("POST", "/actions/run", False),
        ("POST", "/slack/actions", True),
        ("GET", "/slack/actions", False),
    ],
)
def test_local_mode_routes_the_webhook_to_its_handler_and_the_rest_to_the_page(
    method: str, target: str, webhook: bool
) -> None:
    from batchcron.local.http import is_webhook

    assert is_webhook(method, target) is webhook


def test_no_handler_imports_the_page() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import batchcron.handlers.webhook, batchcron.handlers.dispatch, "
        "batchcron.handlers.job_state\n"
        "bad = [m for m in sys.modules if m.startswith(('batchcron.ui', 'jinja2'))]\n"
        "assert not bad, bad\n"
    )
    env = {"POWERTOOLS_METRICS_DISABLED": "true", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_job_page_shows_cost_this_month_and_30_days_lag_percentiles_and_cost_bars(
    source: FakeSource,
) -> None:
    # parish: 8 runs of 150 s at 1 vCPU / 2 GB in eu-west-2: 150 × (0.04656 + 2 × 0.00511) /
    # 3600 = $0.0023658 each, $0.0189 for the 8 (all in November, all within 30 days)
    text = html(get(page(source), "/jobs/parish"))

    assert '<dd id="cost-month">$0.019</dd>' in text
    assert '<dd id="cost-30d">$0.019' in text
    assert "p50 1m 00s · p95 1m 00s" in text
    assert text.count('<rect class="bar cost s-ok"') == 8


def test_run_page_shows_cost_start_lag_and_timeline(source: FakeSource) -> None:
    text = html(get(page(source), "/runs/parish/parish-20261138T0000"))

    assert '<dd id="cost">$0.002' in text
    assert '<dd id="start-lag">1m 00s</dd>' in text
    timeline = text[text.index('id="timeline"') :]
    assert timeline.index("trigger") < timeline.index("RUNNING") < timeline.index("finished")


def test_grid_marks_a_missed_deadline_and_says_who_paused(source: FakeSource) -> None:
    source.job_states["parish"] = JobState(
        job="parish",
        deadline_missed="2026-11-30T07:00:00.000Z",
        paused=True,
        paused_by="batchcron",
        paused_reason="5 failures in a row (pause_after_failures: 5)",
    )
    app = page(source)
    text = html(get(app, "/"))
    row = text[text.index('data-job="parish"') :].split("</tr>")[0]

    assert "deadline missed" in row
    assert 'title="paused by batchcron 5 failures in a row' in row
    status = json.loads(get(app, "/api/status").body)
    assert next(r for r in status if r["job"] == "parish")["deadline_missed"]


def test_large_text_responses_are_gzipped_small_and_binary_ones_not() -> None:
    import gzip

    from batchcron.ui.app import Response
    from batchcron.ui.server import compressed

    page = Response(200, b"<a class='cell'></a>" * 500)
    packed = compressed(page)
    assert (
        packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    )
    assert gzip.decompress(packed.body) == page.body and len(packed.body) < len(page.body) // 10
    assert compressed(Response(200, b"small")).body == b"small"
    icon = Response(200, b"x" * 5000, "image/png")
    assert "Content-Encoding" not in compressed(icon).headers
