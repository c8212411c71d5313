"""`batchcron`: the operator CLI (catalogue, runs, pause/resume, backfill, logs, local mode).

`main.py` is the console script; `commands.py` registers every command (one module per kind,
`cmd_*.py`). The CLI is the face that starts the other two: `batchcron local` (local mode) and
`batchcron ui` (the status page), handing local mode its page.

May import: `local`, `ui`, `handlers`, `wiring` and every layer below them.
"""

from batchcron.cli.errors import explain
from batchcron.cli.main import main

__all__ = ["explain", "main"]
