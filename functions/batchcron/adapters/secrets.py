"""Secrets Manager adapter: reads cached for a few minutes. Values are never logged.

A dict and a lock instead of Powertools parameters: the same behaviour (time-limited cache,
forced re-read) without importing the parameters utility on every cold start.
"""

from __future__ import annotations

import threading
import time
from typing import Any

DEFAULT_MAX_AGE = 300  # seconds a secret is cached
PLACEHOLDER = "unset"  # the template's initial value for secrets the operator fills in

_lock = threading.Lock()
_last_forced: dict[str, float] = {}
_values: dict[str, tuple[str, float]] = {}  # arn -> (value, monotonic time read)


class SecretUnavailableError(RuntimeError):
    """The secret could not be read (missing, no permission, Secrets Manager down)."""


def _read(arn: str) -> str:
    """One GetSecretValue on batchcron's own client (its timeouts and bounded retries)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from batchcron.adapters import aws

    try:
        response: dict[str, Any] = dict(aws.secretsmanager().get_secret_value(SecretId=arn))
    except (BotoCoreError, ClientError) as exc:
        # The message names the secret, never its value.
        raise SecretUnavailableError(f"cannot read secret {arn}: {type(exc).__name__}") from None
    if "SecretString" in response:
        return str(response["SecretString"])
    return bytes(response.get("SecretBinary", b"")).decode("utf-8")


def get_secret(arn: str, *, max_age: int = DEFAULT_MAX_AGE, force: bool = False) -> str:
    """The secret string of `arn` (cached for `max_age` seconds unless `force`)."""
    now = time.monotonic()
    if not force:
        with _lock:
            cached = _values.get(arn)
        if cached is not None and now - cached[1] < max_age:
            return cached[0]
    value = _read(arn)
    with _lock:
        _values[arn] = (value, now)
    return value


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
    with _lock:
        _values.clear()
        _last_forced.clear()
