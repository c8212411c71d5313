"""The terminal: consoles that know their width, tables for people, JSON for scripts, one
colour per outcome. Shared by the CLI and local mode."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from batchcron.models import Status, duration_text, parse_time

STYLES = {
    Status.SUCCEEDED: "green",
    Status.FAILED: "bold red",
    Status.CANCELLED: "yellow",
    Status.SUBMIT_FAILED: "bold red",
    Status.MISSED: "red",
    Status.SKIPPED: "yellow",
    Status.SUPERSEDED: "dim",
    Status.QUEUED: "magenta",
    Status.CLAIMED: "dim",
    Status.RUNNING: "cyan",
    Status.STARTING: "cyan",
    Status.RUNNABLE: "blue",
    Status.PENDING: "blue",
    Status.SUBMITTED: "blue",
}
FAILED_STATUSES = frozenset({Status.FAILED, Status.SUBMIT_FAILED})


def _width(stream: Any) -> int | None:
    # Off a terminal (and without COLUMNS), keep lines whole for grep and tests instead of
    # wrapping at 80; listings there are tab-separated anyway (adapters/tables.py).
    return None if stream.isatty() or os.environ.get("COLUMNS") else 220


@cache
def out() -> Console:
    return Console(width=_width(sys.stdout), highlight=False)


@cache
def err() -> Console:
    return Console(stderr=True, highlight=False, width=_width(sys.stderr))


def reset() -> None:
    out.cache_clear()
    err.cache_clear()


def status_text(status: str | Status | None) -> Text:
    if status is None:
        return Text("-", style="dim")
    try:
        style = STYLES.get(Status(status), "")
    except ValueError:
        style = ""
    return Text(str(status), style=style)


_local_time = False


def use_local_time(local: bool) -> None:
    """`--local`: show times in this terminal's zone instead of UTC."""
    global _local_time
    _local_time = local


def when(text: str | None) -> str:
    """An ISO time to the second: `yyyy-mm-dd HH:MM:SSZ` (UTC), or in the terminal's zone
    with its abbreviation after `--local`; '-' for none."""
    if not text:
        return "-"
    try:
        moment = parse_time(text)
    except ValueError:
        return text
    if _local_time:
        return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def shown_path(path: Path) -> str:
    """A path as the reader would type it: relative to here when it is below here."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (OSError, ValueError):
        return str(path)


def note(message: str) -> None:
    """A line about a listing (a count, a hint): with the table on a terminal, on stderr when
    stdout is a pipe, so the pipe carries only rows."""
    console = out() if out().is_terminal else err()
    console.print(message, soft_wrap=True)


def duration(seconds: float | None) -> str:
    return duration_text(seconds) or "-"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_default) + "\n")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
