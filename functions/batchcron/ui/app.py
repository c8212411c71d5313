"""The status page's requests: routing, the Host and token checks, and the actions.

Transport-free: a `Request` in, a `Response` out (`ui.server` puts it on HTTP). Reads go through
a `Source`; actions through `cli.actions`, the code the CLI commands run.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from batchcron.models import utcnow
from batchcron.ui import grid, pages, slack, text
from batchcron.ui.render import STATIC_TYPES, digest, render, static
from batchcron.ui.slack import SlackApp
from batchcron.ui.source import Source

MAX_FORM = 16 * 1024
FLASHES = 200
SECURITY_HEADERS = {
    # Scripts and styles from this origin only; no inline script; never framed.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Request:
        path, _, query = target.partition("?")
        return cls(
            method=method.upper(),
            path=path or "/",
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers={key.lower(): value for key, value in headers.items()},
            body=body,
        )


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, **SECURITY_HEADERS, **self.headers}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@functools.lru_cache(maxsize=4096)
def _describe(expr: str | None) -> str:
    """A schedule in words; kept, as the words of an expression never change (cron_descriptor
    takes about a millisecond an expression: a tenth of the grid's render at 100 jobs)."""
    from batchcron.catalogue.words import describe_schedule

    return describe_schedule(expr)


def _next_slot(expr: str, timezone: str, after: datetime) -> datetime | None:
    from batchcron.catalogue.schedule import next_slot

    return next_slot(expr, timezone, after)


class StatusPage:
    """One page server's state: its port (for the Host check), its token and its messages."""

    def __init__(
        self,
        source: Source,
        *,
        port: int | None = None,
        token: str | None = None,
        guard: Callable[[], AbstractContextManager[Any]] | None = None,
        who: str = "the status page",
        clock: Callable[[], datetime] = utcnow,
        explain: Callable[[BaseException], str | None] = lambda exc: None,
        slack: SlackApp | None = None,
    ) -> None:
        self.source = source
        self.port = port
        self.token = token or secrets.token_urlsafe(32)
        self.guard = guard or contextlib.nullcontext
        self.who = who
        self.clock = clock
        self.explain = explain  # errors in words (the CLI's), so the page and the CLI agree
        self.slack = slack  # local mode in Slack app mode: the alert's buttons press for real
        self._flashes: OrderedDict[str, tuple[bool, str]] = OrderedDict()
        self._lock = threading.Lock()

    # --- entry --------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        try:
            self._check_host(request)
            if request.method == "POST":
                self._check_token(request)
                return self._post(request)
            if request.method not in ("GET", "HEAD"):
                raise Refused(405, f"{request.method} is not allowed here")
            return self._get(request)
        except Refused as exc:
            return self._error(exc.status, exc.message)
        except Exception as exc:
            return self._error(500, self.explain(exc) or f"{type(exc).__name__}: {exc}")

    def allowed_hosts(self) -> frozenset[str]:
        if self.port is None:
            return frozenset()
        return frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})

    def _check_host(self, request: Request) -> None:
        # DNS rebinding: a page from another site resolved to 127.0.0.1 still sends its own Host.
        if request.headers.get("host", "").lower() not in self.allowed_hosts():
            raise Refused(403, "refused: the Host header is not this page's own address")

    def _check_token(self, request: Request) -> None:
        if len(request.body) > MAX_FORM:
            raise Refused(413, "form too large")
        form = _form(request.body)
        given = form.get("token", "")
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            raise Refused(403, "refused: missing or wrong page token (reload the page)")

    # --- GET ----------------------------------------------------------------------------------
    def _get(self, request: Request) -> Response:
        path = request.path
        if path == "/":
            return self._html("grid.html", self._grid_context(request), request)
        if path == "/grid":
            return self._html("_grid.html", self._grid_context(request), request)
        if path == "/favicon.ico":
            return self._static("favicon.svg")
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"), request.query.get("v", ""))
        if path == "/api/status":
            context = self._grid_context(request)
            return _json(grid.status_json(context["rows"]))
        if path == "/api/runs":
            return self._api_runs(request)
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if len(parts) == 2 and parts[0] == "jobs":
            return self._html("job.html", self._job_context(parts[1]), request)
        if len(parts) == 3 and parts[0] == "runs":
            context = self._run_context(parts[1], parts[2])
            context["confirm_cancel"] = request.query.get("confirm") == "cancel"
            return self._html("run.html", context, request)
        raise Refused(404, f"no page at {path}")

    def _grid_context(self, request: Request) -> dict[str, Any]:
        catalogue = self.source.catalogue()
        states = self.source.states()
        names = list(catalogue.jobs) + sorted(set(states) - set(catalogue.jobs))
        filters = grid.Filters.parse(request.query)
        if filters.q:
            names = [name for name in names if filters.q.lower() in name.lower()]
        runs = self.source.grid_runs(names, states, text.GRID_RUNS)
        return grid.grid(
            catalogue,
            states,
            runs,
            self.clock(),
            filters,
            describe=_describe,
            next_slot=_next_slot,
        )

    def _job_context(self, name: str) -> dict[str, Any]:
        catalogue = self.source.catalogue()
        job = catalogue.jobs.get(name)
        state = self.source.state(name)
        runs = self.source.runs(name, text.COST_RUNS)
        if job is None and not runs:
            import difflib

            known = list(catalogue.jobs) + sorted(set(self.source.states()) - set(catalogue.jobs))
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise Refused(404, f"no job {name!r} in the catalogue or the run store{hint}")
        return pages.job_page(
            name,
            job,
            state,
            runs,
            self.clock(),
            describe=_describe,
            next_slot=_next_slot,
            region=self.source.region,
            prices=catalogue.prices,
        )

    def _run_context(self, job: str, run_id: str) -> dict[str, Any]:
        run = self.source.run(job, run_id)
        if run is None:
            raise Refused(404, f"no run {run_id!r} of job {job!r}")
        lines, note = self.source.log_tail(run, text.LOG_LINES)
        catalogue = self.source.catalogue()
        context = pages.run_page(
            run,
            catalogue.jobs.get(job),
            lines,
            note,
            region=self.source.region,
            log_group=self.source.log_group,
            console_links=self.source.console_links,
            prices=catalogue.prices,
            now=self.clock(),
        )
        message = self._slack_message(run, catalogue)
        context["slack"] = slack.blocks(message) if message else None
        context["slack_app"] = self.slack is not None
        return context

    def _slack_message(self, run: Any, catalogue: Any) -> dict[str, Any] | None:
        """The Slack message the notifier builds for the run's alert (with its buttons in
        Slack app mode), or None when the run has none."""
        from batchcron.outcomes.alerting import FAILURE_KINDS, Where, message, with_buttons

        alert = run.alert
        if alert is None:
            return None
        where = Where(region=self.source.region, log_group=self.source.log_group)
        built = message(run, alert, catalogue.jobs.get(run.job), where, catalogue.prices)
        if self.slack is not None and alert.kind in FAILURE_KINDS:
            state = self.source.state(run.job)
            built = with_buttons(built, run.job, paused=state.paused or alert.kind == "paused")
        return built

    def _slack_press(self, form: Mapping[str, str]) -> Response:
        """A button of the run page's alert: the block_actions press Slack would send, signed
        with local mode's signing secret and POSTed to its `/slack/actions` over HTTP (the
        handler's own code path), then back to the run page with what it answered."""
        import urllib.error
        import urllib.request

        if self.slack is None:
            raise Refused(404, "the alert's buttons work in Slack app mode only (--slack-app)")
        job, run_id = form.get("job", ""), form.get("run_id", "")
        action_id = form.get("action_id", "")
        run = self.source.run(job, run_id)
        if run is None:
            raise Refused(404, f"no run {run_id!r} of job {job!r}")
        built = self._slack_message(run, self.source.catalogue())
        buttons = [
            button
            for block in (slack.blocks(built) if built else [])
            if block["type"] == "actions"
            for button in block["buttons"]
        ]
        if not any(button["action_id"] == action_id for button in buttons):
            raise Refused(400, f"the alert has no button {action_id!r}")
        state = self.source.state(job)
        now = self.clock().timestamp()
        body = slack.press(
            built or {},
            action_id=action_id,
            value=job,
            channel=state.slack_thread_channel or self.slack.channel,
            message_ts=state.slack_thread_ts,
            response_url=self.slack.response_url,
            now=now,
        )
        headers = slack.signed_headers(self.slack.signing_secret, body, int(now))
        call = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/slack/actions", data=body, headers=headers
        )
        try:
            with urllib.request.urlopen(call, timeout=30) as answer:  # our own port
                result = json.loads(answer.read() or b"{}")
            ok, said = True, str(result.get("result") or "done")
        except urllib.error.HTTPError as exc:
            ok, said = False, f"/slack/actions answered {exc.code}: {exc.read()[:300]!r}"
        except (OSError, ValueError) as exc:
            ok, said = False, f"/slack/actions did not answer: {exc}"
        query = self._flash(ok, f"Slack {action_id}: {said}")
        back = text.run_href(job, run_id)
        return Response(
            303, b"", "text/plain; charset=utf-8", {"Location": f"{back}?{urlencode(query)}"}
        )

    def _api_runs(self, request: Request) -> Response:
        from batchcron.models import run_json

        job = request.query.get("job") or None
        text = request.query.get("limit") or "20"
        if not text.isdigit() or not 1 <= int(text) <= 1000:
            raise Refused(400, "limit must be a whole number from 1 to 1000")
        limit = int(text)
        found = self.source.runs(job, limit) if job else self.source.recent_runs(limit)
        return _json([run_json(run) for run in found])

    def _static(self, name: str, version: str = "") -> Response:
        data = static(name)
        if data is None:
            raise Refused(404, f"no static file {name!r}")
        # The URL the pages link (`asset`) names the file's digest: that copy never changes.
        fresh = bool(version) and version == digest(name)
        cache = "max-age=31536000, immutable" if fresh else "max-age=300"
        return Response(200, data, STATIC_TYPES[name], {"Cache-Control": cache})

    def _html(self, template: str, context: dict[str, Any], request: Request) -> Response:
        flash = self._flashes.get(request.query.get("flash", ""))
        page = render(
            template,
            **context,
            catalogue_problem=_problem(self.source.problem),
            token=self.token,
            target=self.source.target,
            flash={"ok": flash[0], "message": flash[1]} if flash else None,
        )
        return Response(200, page.encode("utf-8"))

    # --- POST ---------------------------------------------------------------------------------
    def _post(self, request: Request) -> Response:
        from batchcron.catalogue.errors import UnknownJobError
        from batchcron.scheduling.control import ActionError

        form = _form(request.body)
        action = request.path.removeprefix("/actions/")
        if action == "slack":  # not under the guard: the handler it calls takes it
            return self._slack_press(form)
        job = form.get("job", "")
        try:
            with self.guard():
                ok, message, back, confirm = self._act(
                    action,
                    job,
                    form.get("run_id", ""),
                    form.get("confirm") == "yes",
                    force=form.get("force") == "1",
                )
        except ActionError as exc:
            ok, message, back, confirm = False, str(exc), text.job_href(job), ""
        except UnknownJobError as exc:
            ok, message, back, confirm = False, str(exc).strip("'\""), "/", ""
        query = {"confirm": confirm} if confirm else self._flash(ok, message)
        return Response(
            303, b"", "text/plain; charset=utf-8", {"Location": f"{back}?{urlencode(query)}"}
        )

    def _act(
        self, action: str, job: str, run_id: str, confirmed: bool, *, force: bool = False
    ) -> tuple[bool, str, str, str]:
        """(ok, message, where to go back, what to confirm there) of one action."""
        from batchcron import wiring

        actions = wiring.control()
        if action == "run":
            # A paused job's button is "Run anyway" (force=1); without it the run is refused.
            outcome = actions.run_now(job, force=force)
            if outcome.action == "refused":
                note = " (resume it first, or use Run anyway)"
            elif outcome.paused:
                note = " (the job is paused; run anyway)"
            else:
                note = ""
            return outcome.ok, outcome.describe() + note, text.job_href(job), ""
        if action in ("pause", "resume"):
            paused = actions.set_paused(job, action == "pause", who=self.who)
            return True, paused, text.job_href(job), ""
        if action == "cancel":
            run = self.source.run(job, run_id)
            if run is None:
                raise Refused(404, f"no run {run_id!r} of job {job!r}")
            if not confirmed:  # the first click asks; the second (the confirm form) cancels
                return True, f"confirm: cancel {run_id}?", text.run_href(job, run_id), "cancel"
            result = actions.cancel(run, self.who)
            return result.ok, result.message, text.run_href(job, run_id), ""
        raise Refused(404, f"no action {action!r}")

    def _flash(self, ok: bool, message: str) -> dict[str, str]:
        key = secrets.token_urlsafe(8)
        with self._lock:
            self._flashes[key] = (ok, message)
            while len(self._flashes) > FLASHES:
                self._flashes.popitem(last=False)
        return {"flash": key}

    # --- errors -------------------------------------------------------------------------------
    def _error(self, status: int, message: str) -> Response:
        try:
            page = render(
                "error.html",
                status=status,
                message=message,
                target="",
                flash=None,
                catalogue_problem=None,
            )
        except Exception:  # the error page must not fail the error
            from html import escape

            page = f"<!doctype html><title>{status}</title><p>{escape(message)}</p>"
        return Response(status, page.encode("utf-8"))


def _problem(error: Any) -> dict[str, Any] | None:
    """A catalogue error for the banner: the file and each problem (job, field, line)."""
    if error is None:
        return None
    return {"source": error.source, "problems": [str(problem) for problem in error.problems]}


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _json(data: Any) -> Response:
    return Response(
        200, json.dumps(data, indent=1, default=str).encode("utf-8"), "application/json"
    )
