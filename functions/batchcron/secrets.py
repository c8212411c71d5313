"""Secrets Manager adapter: cached reads through Powertools parameters. Values are never logged."""

from __future__ import annotations

import threading
import time
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

DEFAULT_MAX_AGE = 300  # seconds a secret is cached
PLACEHOLDER = "unset"  # the template's initial value for secrets the operator fills in

_lock = threading.Lock()
_last_forced: dict[str, float] = {}


class SecretUnavailableError(RuntimeError):
    """The secret could not be read (missing, no permission, Secrets Manager down)."""


@cache
def _provider() -> SecretsProvider:
    """Powertools' secrets provider on batchcron's own Secrets Manager client: its timeouts and
    bounded retries (the webhook answers inside GitHub's 10 s), and the boto3 session the other
    clients share (a second session costs a cold start ~30 ms of loading endpoint data)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from batchcron import aws

    return SecretsProvider(boto3_client=aws.secretsmanager())


def get_secret(arn: str, *, max_age: int = DEFAULT_MAX_AGE, force: bool = False) -> str:
    """The secret string of `arn` (cached for `max_age` seconds unless `force`)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value = _provider().get(arn, max_age=max_age, force_fetch=force)
    except parameters.exceptions.GetParameterError as exc:
        # The message names the secret, never its value.
        raise SecretUnavailableError(
            f"cannot read secret {arn}: {type(exc.__cause__).__name__}"
        ) from None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return str(value)


def refresh_allowed(arn: str, *, every: float = 60.0, now: float | None = None) -> bool:
    """True at most once per `every` seconds per secret: bounds forced re-reads (rotation checks)
    so forged requests cannot drive Secrets Manager calls."""
    moment = time.monotonic() if now is None else now
    with _lock:
        last = _last_forced.get(arn)
        if last is not None and moment - last < every:
            return False
        _last_forced[arn] = moment
        return True


def reset() -> None:
    """Forget cached values and refresh times (tests, local mode restarts)."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    _provider.cache_clear()
    with _lock:
        _last_forced.clear()
