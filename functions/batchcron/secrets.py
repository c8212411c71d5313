"""Secrets Manager adapter: cached reads through Powertools parameters. Values are never logged."""

from __future__ import annotations

import threading
import time

DEFAULT_MAX_AGE = 300  # seconds a secret is cached
PLACEHOLDER = "unset"  # the template's initial value for secrets the operator fills in

_lock = threading.Lock()
_last_forced: dict[str, float] = {}


class SecretUnavailableError(RuntimeError):
    """The secret could not be read (missing, no permission, Secrets Manager down)."""


def get_secret(arn: str, *, max_age: int = DEFAULT_MAX_AGE, force: bool = False) -> str:
    """The secret string of `arn` (cached for `max_age` seconds unless `force`)."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(arn, max_age=max_age, force_fetch=force)
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
    with _lock:
        _last_forced.clear()
