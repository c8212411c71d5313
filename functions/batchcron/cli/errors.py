"""Errors in words: a one-line, actionable message for the errors people cause or can fix
(bad input, no credentials, an unreachable endpoint); None for bugs. The CLI prints it as one
`error:` line; the status page shows it on its error page."""

from __future__ import annotations


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
    from batchcron.cli.app import UsageError
    from batchcron.cli.push import PushError
    from batchcron.cli.target import TargetError
    from batchcron.local.options import LocalError
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
