"""The console script (`batchcron`): run a command; errors a person can act on become one
`error:` line (exit 1), never a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from batchcron.cli.commands import cli
from batchcron.cli.errors import explain


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    # Handlers log JSON for CloudWatch; on a terminal only their warnings are worth showing.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="batchcron",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        from rich.text import Text

        from batchcron.adapters import terminal

        # The message quotes what the user typed: print it as text, never as rich markup.
        terminal.err().print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
