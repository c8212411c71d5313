"""`batchcron ui`: the status page on http://127.0.0.1:8321/ for the CLI's target."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from batchcron.cli.app import UsageError, connect, target_options
from batchcron.cli.errors import explain
from batchcron.cli.target import Target, TargetOptions

if TYPE_CHECKING:
    from batchcron.local.options import Guard, Page
    from batchcron.ui.app import StatusPage

DEFAULT_PORT = 8321


@click.command()
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@target_options
def ui(target: TargetOptions, port: int, no_browser: bool) -> int:
    """Serve the status page (grid of recent runs, job and run pages, actions) on 127.0.0.1."""
    import threading

    from batchcron.adapters import terminal

    resolved = connect(target)
    page = status_page(resolved)
    from batchcron.ui.server import serve

    try:
        server = serve(page, port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}): pass --port with "
            "another port (0 picks a free one)"
        ) from None
    url = f"http://127.0.0.1:{server.port}/"
    console = terminal.out()
    console.print(f"batchcron status page for {resolved.label}: {url}", soft_wrap=True)
    console.print("Ctrl-C stops.")
    if not no_browser and sys.stdout.isatty():
        import webbrowser

        webbrowser.open(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def status_page(resolved: Target) -> StatusPage:
    """The page for the target this process was pointed at (`connect`)."""
    from batchcron.settings import settings
    from batchcron.ui.app import StatusPage
    from batchcron.ui.source import Source

    config = settings()
    source = Source(
        region=config.region,
        log_group=config.job_log_group,
        console_links=resolved.kind == "stack",
        target=resolved.label,
    )
    return StatusPage(source, who=f"{_who()} (status page)", explain=explain)


def local_page(
    region: str, log_group: str | None, guard: Guard, *, slack_app: bool = False
) -> Page:
    """The status page local mode serves on its webhook port (`LocalOptions.status_page`); in
    Slack app mode its run pages' alerts press their buttons through local mode's
    `/slack/actions`, signed with its signing secret, answering through the sink."""
    from batchcron.local.options import LOCAL_SLACK_CHANNEL, LOCAL_SLACK_SIGNING_SECRET
    from batchcron.settings import settings
    from batchcron.ui.app import StatusPage
    from batchcron.ui.server import Served
    from batchcron.ui.slack import SlackApp
    from batchcron.ui.source import Source

    app = None
    if slack_app:
        from urllib.parse import urljoin

        app = SlackApp(
            signing_secret=LOCAL_SLACK_SIGNING_SECRET,
            channel=settings().slack_channel or LOCAL_SLACK_CHANNEL,
            response_url=urljoin(settings().slack_api_url, "/response/local"),
        )
    source = Source(region=region, log_group=log_group, console_links=False, target="local mode")
    page = StatusPage(source, guard=guard, who="the local status page", explain=explain, slack=app)
    return Served(page)


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "an operator"
