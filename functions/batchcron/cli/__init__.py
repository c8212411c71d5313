"""`batchcron`: the operator CLI (catalogue, runs, pause/resume, backfill, logs, local mode).

Errors a person can act on are printed as one `error:` line (exit 1); never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from batchcron.cli.commands import UsageError, cli
from batchcron.cli.graph import graph
from batchcron.cli.ui import ui

cli.add_command(graph)
cli.add_command(ui)


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

        from batchcron.cli import output

        # The message quotes what the user typed: print it as text, never as rich markup.
        output.err().print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
        return 1
    return result if isinstance(result, int) else 0


def explain(exc: BaseException) -> str | None:
    """A one-line, actionable message for errors people cause or can fix; None for bugs."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        TokenRetrievalError,
    )

    from batchcron.catalogue.errors import CatalogueError, UnknownJobError
    from batchcron.cli.push import PushError
    from batchcron.cli.target import TargetError
    from batchcron.local import LocalError
    from batchcron.settings import ConfigError

    if isinstance(exc, UnknownJobError):
        return f"{exc} — `batchcron jobs` lists them"
    if isinstance(exc, CatalogueError):
        return str(exc)
    if isinstance(exc, TargetError | PushError | ConfigError | UsageError | LocalError):
        return str(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | TokenRetrievalError):
        return (
            "no AWS credentials: pass --profile NAME (or set AWS_PROFILE), run `aws sso login`, "
            "or use local mode (`make run`)"
        )
    if isinstance(exc, ProfileNotFound | NoRegionError):
        return f"{exc} (check --profile and --region)"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        return (
            f"cannot reach the AWS endpoint {endpoint}: is local mode (`make run`) still "
            "running, or is the network down?"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, text = error.get("Code", "Error"), error.get("Message", "")
        if code in ("ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException"):
            return f"AWS rejected the credentials ({code}): refresh them, e.g. `aws sso login`"
        if code == "ResourceNotFoundException":
            return f"{text} — is the target right (--stack, --region, local mode running)?"
        return f"AWS {exc.operation_name} failed: {code}: {text}"
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
