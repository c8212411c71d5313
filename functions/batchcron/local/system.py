"""Starts, runs and stops local mode's parts in order."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchcron.local.options import LocalError, LocalOptions, Page

MOTO_CONFIG = {"batch": {"use_docker": False}}


class LocalSystem:
    def __init__(self, options: LocalOptions) -> None:
        from batchcron.adapters import terminal

        self.options = options
        self.console = terminal.out()
        self.stop_event = threading.Event()
        self.terminated = False
        self._cleanup: list[Any] = []
        self.view: Any = None
        self.started = time.monotonic()

    # --- run -----------------------------------------------------------------------------
    def run(self) -> int:
        from batchcron.local.view import RunView

        main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        if main:
            signal.signal(signal.SIGTERM, self._terminate)
            signal.signal(signal.SIGINT, self._interrupt)
        self.view = RunView(self.console, live=self.console.is_terminal)
        self._start_clock()
        try:
            self.start()
            self.banner()
            with self.view:
                self.watch()
        except KeyboardInterrupt:  # a second Ctrl-C, or one before the handler was set
            pass
        finally:
            try:
                self.finish()
            finally:
                if main:
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)
        return 0

    def _start_clock(self) -> None:
        """--now: every part of local mode runs on the one clock, started at the set instant
        (the ticks, Batch's times, the status page; the CLI reads the offset from the state)."""
        from batchcron.models import clock_offset, set_clock, set_clock_offset

        if self.options.now is None:
            return
        previous = clock_offset()
        set_clock(self.options.now)
        self._cleanup.append(lambda: set_clock_offset(previous))

    def _terminate(self, *_: Any) -> None:
        """SIGTERM: stop now, without waiting for in-flight state changes."""
        self.terminated = True
        self.stop_event.set()

    def _interrupt(self, *_: Any) -> None:
        """Ctrl-C: stop at the watch loop's next turn. A KeyboardInterrupt raised wherever the
        main thread happened to be could leave a lock held (botocore's pool, moto's server in
        this process) that the summary and the shutdown then wait on for ever. A second Ctrl-C
        interrupts at once."""
        self.stop_event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def watch(self) -> None:
        from batchcron.wiring import store

        runs_store = store()
        # --duration counts from when everything is up (start-up is slow on a busy machine).
        up = time.monotonic()
        deadline = up + self.options.duration if self.options.duration is not None else None
        while not self.stop_event.wait(0.25):
            try:
                self.view.update(runs_store.recent_runs(limit=50))
            except Exception as exc:  # a display hiccup must not stop the system
                self.view.say(f"view: {type(exc).__name__}: {exc}")
            if deadline is not None and time.monotonic() >= deadline:
                return

    # --- start -------------------------------------------------------------------------------
    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        from batchcron.local.http import slack_sink, webhook_server
        from batchcron.local.played import install, uninstall

        options = self.options
        # moto's server logs every request through werkzeug; local mode shows runs instead.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's EC2 backend would load ~5,000 sample AMIs (seconds of start-up); none is used.
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        _require_free(options.aws_port, "--aws-port")
        _require_free(options.port, "--port")
        install()
        self._cleanup.append(uninstall)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=options.aws_port, verbose=False)
        moto.start()
        self._cleanup.append(lambda: _stop_moto(moto))
        _host, port = moto.get_host_and_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        _post_json(f"{self.endpoint}/moto-api/config", MOTO_CONFIG)
        self._point_clients_at(self.endpoint)

        self.slack_url = os.environ.get("SLACK_WEBHOOK_URL") or ""
        if options.slack_app:
            from batchcron.local.options import LOCAL_SLACK_CHANNEL

            sink = slack_sink(self.view.alert, self.view.slack_call)
            sink.start()
            self._cleanup.append(sink.stop)
            os.environ["SLACK_API_URL"] = f"{sink.url}/api/"
            os.environ["SLACK_CHANNEL"] = LOCAL_SLACK_CHANNEL
            self.slack_label = f"Slack app mode, local sink {sink.url} (alerts print here)"
        elif not self.slack_url:
            sink = slack_sink(self.view.alert)
            sink.start()
            self._cleanup.append(sink.stop)
            self.slack_url = sink.url
            self.slack_label = f"local sink {sink.url} (alerts print here)"
        else:
            self.slack_label = "real Slack (SLACK_WEBHOOK_URL)"

        self.provisioned = self._provision()
        page = self._status_page()
        webhook = webhook_server(options.port, self._invoke_webhook, self.view.say, page=page)
        if page is not None:
            page.port = webhook.port
        webhook.start()
        self._cleanup.append(webhook.stop)
        self.webhook_url = f"{webhook.url}/github"
        self.page_url = f"{webhook.url}/"

        self._write_state()
        self._start_workers()

    def _point_clients_at(self, endpoint: str) -> None:
        from batchcron.adapters import aws, secrets
        from batchcron.settings import settings

        env = os.environ
        env["AWS_ENDPOINT_URL"] = endpoint
        env["AWS_ACCESS_KEY_ID"] = "local"
        env["AWS_SECRET_ACCESS_KEY"] = "local"
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or self.options.region
        self.region = region
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
        env.setdefault("POWERTOOLS_SERVICE_NAME", "batchcron-local")
        env["POWERTOOLS_METRICS_DISABLED"] = "true"
        if not self.options.verbose:
            # The console shows the live table and alerts; Powertools' metrics chatter is not
            # for it (the handlers add no metric on some paths, and say so).
            import warnings

            warnings.filterwarnings("ignore", message="No application metrics to publish")
        env["POWERTOOLS_LOG_LEVEL"] = "INFO" if self.options.verbose else "WARNING"
        from batchcron.observability import logger

        logger.setLevel(env["POWERTOOLS_LOG_LEVEL"])
        settings.cache_clear()
        aws.reset()
        secrets.reset()

    def _provision(self) -> Any:
        import boto3

        from batchcron.adapters import aws, secrets
        from batchcron.local.options import LOCAL_SLACK_SIGNING_SECRET
        from batchcron.local.provision import provision
        from batchcron.settings import settings

        provisioned = provision(
            boto3.session.Session(region_name=self.region),
            webhook_secret=self.options.webhook_secret,
            slack_url=self.slack_url or "unset",
            **(
                {
                    "slack_bot_token": "xoxb-local",
                    "slack_signing_secret": LOCAL_SLACK_SIGNING_SECRET,
                }
                if self.options.slack_app
                else {}
            ),
        )
        os.environ.update(provisioned.environment())
        os.environ["GITHUB_HOSTS"] = ",".join(self.options.github_hosts)
        settings.cache_clear()
        aws.reset()
        secrets.reset()
        return provisioned

    def _status_page(self) -> Page | None:
        """The status page on the webhook port (when local mode was handed one); its buttons
        run one at a time with the handlers, as everything else in this process that calls
        them."""
        from batchcron.local.functions import serialised
        from batchcron.settings import settings

        factory = self.options.status_page
        if factory is None:
            return None
        return factory(
            self.region, settings().job_log_group, serialised, slack_app=self.options.slack_app
        )

    def _write_state(self) -> None:
        """This instance's state file (by port), and the same state inside the embedded AWS so
        `--endpoint-url` alone finds the rest."""
        import boto3

        from batchcron.local.state import STATE_SECRET, LocalState, remove_state
        from batchcron.models import clock_offset

        state = LocalState(
            pid=os.getpid(),
            endpoint_url=self.endpoint,
            region=self.region,
            webhook_url=self.webhook_url,
            webhook_secret=self.options.webhook_secret,
            environment=self.provisioned.environment(),
            clock_offset_seconds=clock_offset().total_seconds(),
        )
        secrets = boto3.session.Session(region_name=self.region).client("secretsmanager")
        secrets.create_secret(Name=STATE_SECRET, SecretString=state.to_json())
        self.state_file = state.write()
        self._cleanup.append(lambda: remove_state(state))

    def _start_workers(self) -> None:
        import boto3

        from batchcron.adapters.joblogs import JobLogs
        from batchcron.local.synth import FailurePlan, Synthesizer
        from batchcron.local.ticker import Ticker

        session = boto3.session.Session(region_name=self.region)
        self.synth = Synthesizer(
            session.client("batch"),
            self.provisioned.job_queue,
            self._invoke_job_state,
            failures=FailurePlan(self.options.failures),
            log_group=self.provisioned.log_group,
            logs=JobLogs(session.client("logs")),
            region=self.region,
            pace=self.options.pace,
            report=self.view.say,
        )
        self.synth.start()
        self._cleanup.append(self.synth.stop)
        self.ticker = Ticker(
            self._invoke_dispatch,
            every=self.options.tick_seconds,
            replay_from=self.options.replay_from,
            report=self.view.say,
        )
        self.ticker.start()
        self._cleanup.append(self.ticker.stop)

    # --- the functions -------------------------------------------------------------------------
    def _invoke_webhook(self, event: dict[str, Any]) -> Any:
        from batchcron.local.functions import invoke

        return invoke("webhook", event, self.region)

    def _invoke_dispatch(self, event: dict[str, Any]) -> Any:
        from batchcron.local.functions import invoke

        return invoke("dispatch", event, self.region)

    def _invoke_job_state(self, event: dict[str, Any]) -> Any:
        from batchcron.local.functions import invoke

        return invoke("job_state", event, self.region)

    # --- output ----------------------------------------------------------------------------------
    def banner(self) -> None:
        from batchcron.adapters import terminal
        from batchcron.catalogue.loading import jobs_file, load_catalogue

        catalogue = load_catalogue()
        scheduled = len(catalogue.scheduled())
        pushed = next((job for job in catalogue.jobs.values() if job.on_push), None)
        command = _command_name()
        options = self.options
        ticks = (
            "every minute" if options.tick_seconds == 60 else f"every {options.tick_seconds:g} s"
        )
        if options.replay_from is not None:
            ticks += f", after replaying every slot since {options.replay_from:%Y-%m-%d %H:%M}Z"
        rows = [
            ("AWS (moto)", f"{self.endpoint}  region {self.region}"),
            ("Status page", self.page_url),
            ("Webhook", f"{self.webhook_url}  secret: {options.webhook_secret}"),
            ("Slack", self.slack_label),
            ("Runs table", self.provisioned.runs_table),
            (
                "Catalogue",
                f"{terminal.shown_path(jobs_file())} "
                f"({len(catalogue.jobs)} jobs, {scheduled} scheduled)",
            ),
            ("Ticks", ticks),
            ("State file", str(self.state_file)),
        ]
        if options.failures:
            failing = ", ".join(
                f"{job} ({'every run' if n is None else f'first {n} run(s)'})"
                for job, n in options.failures.items()
            )
            rows.append(("Failing", failing))
        if options.duration is not None:
            rows.append(("Stops after", f"{options.duration:g} s"))
        say = self.console.print
        say(
            "[bold]batchcron local[/] — the whole system on this machine, no AWS account, no Docker"
        )
        # Its own line under the title: every time local mode shows comes from this clock.
        say(f"Clock  {clock_text(options.now)}", markup=False, highlight=False, soft_wrap=True)
        # On a terminal a long value wraps at a word, under its own column (never mid-word).
        import textwrap

        room = self.console.width - 15 if self.console.is_terminal else None
        for label, value in rows:
            parts = [value]
            if room is not None and room > 20:
                parts = textwrap.wrap(
                    value, room, break_long_words=False, break_on_hyphens=False
                ) or [value]
            say(f"  [cyan]{label:<12}[/] ", end="", markup=True, highlight=False)
            say(parts[0], markup=False, highlight=False, soft_wrap=True)
            for part in parts[1:]:
                say(" " * 15 + part, markup=False, highlight=False, soft_wrap=True)
        # One command a line: a line never wraps mid-word on a narrow terminal.
        say("In another terminal:")
        if pushed is not None:
            say("  a signed sample push:", highlight=False)
            say(f"  {command} push {pushed.repository}", markup=False, soft_wrap=True)
        for name in ("runs", "status", "jobs"):
            say(f"  {command} {name}", markup=False, highlight=False, soft_wrap=True)
        say("Ctrl-C stops.", soft_wrap=True)

    def finish(self) -> None:
        """Summary (while AWS is still up), then stop every part, newest first."""
        from batchcron.local.view import summary

        if self.view is not None and self.view.live_enabled:
            self.view.__exit__(None, None, None)
        if hasattr(self, "provisioned"):
            self._settle()
            try:
                from batchcron.wiring import store

                summary(
                    self.console,
                    store().recent_runs(limit=200),
                    alerts=self.view.alerts if self.view else 0,
                    elapsed=time.monotonic() - self.started,
                )
            except Exception as exc:
                self.console.print(f"no summary: {type(exc).__name__}: {exc}", markup=False)
        errors = []
        for stop in reversed(self._cleanup):
            try:
                stop()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        self._cleanup.clear()
        self.console.print(
            "batchcron local stopped" + (f" ({'; '.join(errors)})" if errors else "")
        )

    def _settle(self) -> None:
        """Give in-flight state changes a moment to land, so the summary is not half-way."""
        synth = getattr(self, "synth", None)
        if synth is None or self.terminated:
            return
        deadline = time.monotonic() + min(10.0, self.options.pace * 6 + 1.0)
        while synth.busy() and time.monotonic() < deadline:
            time.sleep(0.05)


def clock_text(now: datetime | None) -> str:
    """The banner's clock: where --now started it, or the real time local mode started at."""
    from batchcron.models import utcnow

    if now is None:
        return f"{utcnow():%Y-%m-%d %H:%M} UTC (real time)"
    return f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC (set with --now)"


def _require_free(port: int, option: str) -> None:
    if port == 0:
        return
    with socket.socket() as probe:
        # As the servers do: a closed connection lingering in TIME_WAIT does not block a restart.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise LocalError(
                f"port {port} on 127.0.0.1 is in use: stop what uses it, or pass {option} "
                "with another port (0 picks a free one)"
            ) from None


def _stop_moto(moto: Any) -> None:
    moto.stop()
    server = getattr(moto, "_server", None)
    if server is not None:
        server.server_close()


def _post_json(url: str, data: Any) -> None:
    import json
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _command_name() -> str:
    """How to run `batchcron` from here (the venv's script when it is not on PATH)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "batchcron" and shutil.which("batchcron") != str(argv0.resolve()):
        try:
            return os.path.relpath(argv0)
        except ValueError:
            return str(argv0)
    return "batchcron"


def run_local(options: LocalOptions) -> int:
    """Start everything, run until --duration or Ctrl-C, shut down cleanly. Exit status."""
    return LocalSystem(options).run()
