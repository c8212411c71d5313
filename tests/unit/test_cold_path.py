"""The functions' cold path leaves out what docs/performance.md took off it: pydantic,
Powertools' event handler, parser and parameters (and YAML, when the catalogue is compiled)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "pydantic",
    "pydantic_core",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.parameters",
    "asyncio",
)


def test_no_handler_imports_what_was_taken_off_the_cold_path() -> None:
    code = (
        "import sys\n"
        "import batchcron.handlers.dispatch, batchcron.handlers.webhook\n"
        "import batchcron.handlers.job_state\n"
        # what the first invocation imports on top (wiring, logic, store, secrets, catalogue)
        "import batchcron.wiring, batchcron.webhook, batchcron.jobstate, batchcron.outcomes\n"
        "import batchcron.scheduling.dispatch, batchcron.store.runs, batchcron.catalogue.loading\n"
        "import batchcron.adapters.secrets\n"
        "print(' '.join(sys.modules))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "batchcron.records" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
