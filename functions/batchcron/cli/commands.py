"""The `batchcron` commands, one module per kind (`cmd_*.py`); each resolves its target, then
calls the same code the Lambda functions run (catalogue, submit path, dispatcher, run store).

Importing this module registers every command on `cli`.
"""

from __future__ import annotations

from batchcron.cli.app import (
    CONTEXT,
    UsageError,
    cli,
    connect,
    find_run,
    json_option,
    parse_since,
    target_options,
)
from batchcron.cli.cmd_catalogue import jobs, validate
from batchcron.cli.cmd_control import backfill, cancel, pause, resume
from batchcron.cli.cmd_local import local
from batchcron.cli.cmd_logs import logs
from batchcron.cli.cmd_preflight import preflight
from batchcron.cli.cmd_push import push
from batchcron.cli.cmd_runs import runs, status, submit
from batchcron.cli.graph import graph
from batchcron.cli.ui import ui

cli.add_command(graph)
cli.add_command(ui)

__all__ = [
    "CONTEXT",
    "UsageError",
    "backfill",
    "cancel",
    "cli",
    "connect",
    "find_run",
    "graph",
    "jobs",
    "json_option",
    "local",
    "logs",
    "parse_since",
    "pause",
    "preflight",
    "push",
    "resume",
    "runs",
    "status",
    "submit",
    "target_options",
    "ui",
    "validate",
]
