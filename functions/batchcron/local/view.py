"""What local mode shows: a live table of runs on a terminal, one line per change otherwise,
Slack alerts as readable panels, and a summary at the end."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from batchcron.adapters import terminal
from batchcron.adapters.tables import Cell, Column, lines
from batchcron.models import Run, Status, run_duration, utcnow

LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
FIELD = re.compile(r"^\*([^*\n]+)\*\s*\n(.*)$", re.DOTALL)
MARKUP = re.compile(r"```|`")
FAILED_WORDS = ("fail", "missed", "stuck", "skipped")


def slack_text(message: dict[str, Any]) -> list[str]:
    """Readable lines from a Slack message (Block Kit blocks, else its `text`)."""
    lines: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, dict):
            value = value.get("text")
        if isinstance(value, str) and value.strip():
            text = LINK.sub(r"\2 (\1)", value.strip())
            label = FIELD.match(text)
            if label:  # "*Label*\nvalue" fields read better on one line
                text = f"{label.group(1)}: {label.group(2)}"
            # One line each: a block's lines (a reason, then what it blocks) never run together.
            lines.extend(line.strip() for line in MARKUP.sub("", text).splitlines() if line.strip())

    blocks = list(message.get("blocks") or [])
    for attachment in message.get("attachments") or []:
        blocks += attachment.get("blocks") or []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section"):
            add(block.get("text"))
            for item in block.get("fields") or []:
                add(item)
        elif kind == "context":
            for item in block.get("elements") or []:
                add(item)
        elif kind == "actions":
            for item in block.get("elements") or []:
                label = (item.get("text") or {}).get("text")
                if label and item.get("url"):
                    lines.append(f"{label}: {item['url']}")
        elif kind == "rich_text":
            add(message.get("text"))
    if not lines:
        add(message.get("text"))
    return lines


class RunView:
    """Tracks runs and shows their changes."""

    def __init__(self, console: Console, *, live: bool) -> None:
        self.console = console
        self.live_enabled = live
        self._live: Live | None = None
        self._known: dict[str, str] = {}
        self._runs: list[Run] = []
        self._lock = threading.Lock()
        self.alerts = 0

    def __enter__(self) -> RunView:
        if self.live_enabled:
            self._live = Live(
                self._render(), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def say(self, message: RenderableType | str) -> None:
        with self._lock:
            if isinstance(message, str):
                self.console.print(message, markup=False, soft_wrap=True)
            else:
                self.console.print(message)

    def alert(self, message: dict[str, Any]) -> None:
        self.alerts += 1
        lines = slack_text(message)
        headline = lines[0] if lines else "(empty message)"
        bad = any(word in headline.lower() for word in FAILED_WORDS)
        style = "red" if bad else "green"
        if self.live_enabled:
            self.say(
                Panel("\n".join(lines), title="Slack alert", border_style=style, title_align="left")
            )
        else:
            self.say("Slack alert: " + "\n  ".join(lines))

    def slack_call(self, method: str, args: dict[str, Any]) -> None:
        """A Web API call in Slack app mode: a thread reply prints indented under its first
        message, an edit and an ephemeral line say what they are."""
        if method == "chat.postMessage" and not args.get("thread_ts"):
            self.alert(args)
            return
        lines = slack_text(args)
        label = {
            "chat.postMessage": "↳ in thread",
            "chat.update": "✎ first message edited",
            "chat.postEphemeral": f"(only {args.get('user', '?')} sees)",
        }.get(method, method)
        if method == "chat.postMessage":
            self.alerts += 1
        self.say("    " + label + ": " + "\n      ".join(lines or [""]))

    def update(self, runs: Sequence[Run]) -> None:
        """New state of the most recent runs; prints each change when not live."""
        changed = []
        for run in runs:
            key = f"{run.status}|{run.exit_code}"
            if self._known.get(run.run_id) != key:
                self._known[run.run_id] = key
                changed.append(run)
        self._runs = list(runs)
        if self._live is not None:
            self._live.update(self._render())
            return
        for run in sorted(changed, key=lambda r: r.created_at):
            self.say(line(run))

    def _render(self) -> RenderableType:
        title = "runs (newest first) — Ctrl-C stops"
        if not self._runs:
            return Group(Text(title, style="bold"), Text("no runs yet", style="dim"))
        table = lines(
            RUN_COLUMNS, [run_cells(run) for run in self._runs[:15]], width=self.console.width
        )
        return Group(Text(title, style="bold"), *table)


# The live table and the summary leave out the job and time (the run id says them) and the
# reason (the Slack alert says it); the columns go in this order as the terminal narrows.
RUN_COLUMNS = (
    Column("RUN"),
    Column("TRIGGER", priority=1),
    Column("STATUS"),
    Column("DURATION", priority=2),
    Column("EXIT", priority=3),
)


def run_cells(run: Run) -> list[Cell]:
    return [
        run.run_id,
        run.trigger,
        terminal.status_text(run.status),
        terminal.duration(run_duration(run)),
        "-" if run.exit_code is None else str(run.exit_code),
    ]


def line(run: Run) -> str:
    stamp = utcnow().astimezone().strftime("%H:%M:%S")  # this terminal's zone
    parts = [stamp, f"{run.status.value:<13}", run.run_id, f"({run.trigger})"]
    if run.exit_code is not None:
        parts.append(f"exit {run.exit_code}")
    duration = run_duration(run)
    if duration is not None and run.status.terminal:
        parts.append(terminal.duration(duration))
    parts.extend(_cost_and_lag(run))
    if run.reason and run.status in (Status.SKIPPED, Status.MISSED, Status.SUBMIT_FAILED):
        parts.append(f"— {run.reason}")
    return "  ".join(parts)


def _cost_and_lag(run: Run) -> list[str]:
    """`lag 4s` once the run is RUNNING, `cost $0.001 (est.)` once it ended (docs/cost.md)."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.outcomes.cost import catalogue_cost, cost_text
    from batchcron.outcomes.lag import lag_text, start_lag

    found: list[str] = []
    lag = start_lag(run)
    if lag is not None and run.status in (Status.RUNNING, *TERMINAL_SHOWN):
        found.append(f"lag {lag_text(lag)}")
    if run.status in TERMINAL_SHOWN:
        try:
            cost = catalogue_cost(run, load_catalogue(), "eu-west-2")
        except Exception:  # the catalogue changed under local mode: no figure, no crash
            cost = None
        if cost is not None:
            found.append(f"cost {cost_text(cost.usd)} (est.)")
    return found


TERMINAL_SHOWN = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


def summary(console: Console, runs: Sequence[Run], *, alerts: int, elapsed: float) -> None:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status.value] = counts.get(run.status.value, 0) + 1
    ordered = sorted(runs, key=lambda r: r.created_at)
    console.print(Text("summary", style="bold"))
    for row in lines(RUN_COLUMNS, [run_cells(run) for run in ordered], width=console.width):
        console.print(row, soft_wrap=True)
    totals = ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "none"
    console.print(
        f"{len(runs)} run(s): {totals}; {alerts} Slack alert(s); ran {terminal.duration(elapsed)}",
        markup=False,
    )
