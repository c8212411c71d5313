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
    # the handlers, then what the first invocation imports on top (wiring, logic, store,
    # secrets, catalogue)
    modules = [
        "batchcron.handlers.dispatch",
        "batchcron.handlers.webhook",
        "batchcron.handlers.job_state",
        "batchcron.wiring",
        "batchcron.pushes.webhook",
        "batchcron.outcomes.events",
        "batchcron.outcomes.record",
        "batchcron.scheduling.dispatch",
        "batchcron.store.runs",
        "batchcron.adapters.secrets",
        "batchcron.catalogue.loading",
    ]
    code = f"import sys\nimport {', '.join(modules)}\nprint(' '.join(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "batchcron.records" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
