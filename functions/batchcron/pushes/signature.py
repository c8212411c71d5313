"""GitHub webhook requests, pure: the raw body, the signature checked over its exact bytes
(constant time) before anything is parsed, and the delivery headers. The errors the webhook's
router maps to status codes live here too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable

MAX_BODY_BYTES = 5 * 1024 * 1024
SIGNATURE_PREFIX = "sha256="
# GitHub delivery ids are GUIDs and hook ids integers; anything else is not from GitHub.
_HEADER_ID = re.compile(r"[A-Za-z0-9-]{1,100}")


# --- errors (the handler maps each to one status code) -------------------------------------


class WebhookRequestError(ValueError):
    """A request the webhook refuses; never a server error."""


class SignatureError(WebhookRequestError):
    """The signature is missing, malformed or wrong (401, generic message)."""


class MalformedSignatureError(SignatureError):
    """No usable `X-Hub-Signature-256` header: no point re-reading the secret."""


class PayloadTooLargeError(WebhookRequestError):
    """The body is over MAX_BODY_BYTES (413)."""


class BadPayloadError(WebhookRequestError):
    """Verified, but not JSON, not the shape expected or missing a header we need (400)."""


class DeliveryInProgressError(RuntimeError):
    """The same delivery is being processed by another invocation right now (409)."""


# --- the raw request -----------------------------------------------------------------------


def raw_body(body: str | None, is_base64: bool) -> bytes:
    """The exact bytes GitHub sent (what was signed). Refuses oversized bodies before decoding."""
    if not body:
        return b""
    if is_base64:
        if len(body) // 4 * 3 > MAX_BODY_BYTES + 3:
            raise PayloadTooLargeError("body over 5 MiB")
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            # Lambda encodes what GitHub signed, so such a body cannot carry a good signature.
            raise SignatureError("body is marked base64 but is not valid base64") from None
    else:
        if len(body) > MAX_BODY_BYTES:  # characters ≤ bytes: a cheap early refusal
            raise PayloadTooLargeError("body over 5 MiB")
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLargeError("body over 5 MiB")
    return data


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` (also used by tests and samples)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_PREFIX}{digest}"


def parse_signature(header: str | None) -> bytes:
    """The digest in a `sha256=<64 hex>` header; MalformedSignatureError otherwise."""
    if not header:
        raise MalformedSignatureError("missing signature")
    text = header.strip()
    if not text.startswith(SIGNATURE_PREFIX):
        raise MalformedSignatureError("signature is not sha256")
    hexdigest = text[len(SIGNATURE_PREFIX) :]
    if len(hexdigest) != 64:
        raise MalformedSignatureError("malformed signature")
    try:
        return bytes.fromhex(hexdigest)
    except ValueError:
        raise MalformedSignatureError("malformed signature") from None


def signature_matches(secret: str, body: bytes, digest: bytes) -> bool:
    """HMAC-SHA256 of the raw body with `secret`, compared in constant time."""
    if not secret:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, digest)


def verify(secrets: Iterable[str], body: bytes, header: str | None) -> None:
    """Raise SignatureError unless `header` signs `body` with one of `secrets` (tried lazily,
    so a caller can yield a re-read secret only when the cached one fails)."""
    digest = parse_signature(header)
    for secret in secrets:
        if signature_matches(secret, body, digest):
            return
    raise SignatureError("signature does not match")


def header_id(value: str | None, name: str, *, required: bool) -> str | None:
    """A delivery or hook id header, checked to be a plain id (it becomes part of a key)."""
    if value is None or value == "":
        if required:
            raise BadPayloadError(f"missing {name} header")
        return None
    if not _HEADER_ID.fullmatch(value):
        raise BadPayloadError(f"malformed {name} header")
    return value
