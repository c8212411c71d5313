"""GitHub webhooks, pure: signature verification, payload models and push matching.

Nothing here talks to AWS. The signature is checked over the raw body bytes before anything is
parsed; matching follows GitHub Actions' `on.push` filter semantics.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from batchcron.records import Record, RecordError, check, field, record

if TYPE_CHECKING:  # the catalogue (yaml, cron) is not needed to verify a request
    from batchcron.catalogue.model import Job, OnPush

MAX_BODY_BYTES = 5 * 1024 * 1024
SIGNATURE_PREFIX = "sha256="
ZERO_SHA = "0" * 40
SKIP_MARKERS = ("[skip ci]", "[batchcron skip]")
# GitHub delivery ids are GUIDs and hook ids integers; anything else is not from GitHub.
_HEADER_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
# A commit id: SHA-1 (40 hex) or SHA-256 (64 hex) repositories. It becomes the job's GIT_REF.
_COMMIT_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
COMPARE_PREFIX = "https://github.com/"
# GitHub keeps deliveries for redelivery this long; an older push is a replay, not news.
MAX_PUSH_AGE = timedelta(hours=72)


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
            raise BadPayloadError("body is marked base64 but is not valid base64") from None
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


def parse_json(body: bytes) -> dict[str, Any]:
    """The verified body as a JSON object; BadPayloadError when it is anything else."""
    try:
        loaded = json.loads(body)
    except UnicodeDecodeError:
        raise BadPayloadError("body is not UTF-8 JSON") from None
    except (ValueError, RecursionError):
        hint = (
            " (set the webhook's content type to application/json)"
            if body[:8] == b"payload="
            else ""
        )
        raise BadPayloadError(f"body is not JSON{hint}") from None
    if not isinstance(loaded, dict):
        raise BadPayloadError("body is not a JSON object")
    return loaded


# --- payload models (tolerant: GitHub adds fields) -------------------------------------------


@record(frozen=True)
class Repository(Record):
    full_name: str


@record(frozen=True)
class Pusher(Record):
    name: str | None = None
    email: str | None = None


@record(frozen=True)
class Sender(Record):
    login: str | None = None


@record(frozen=True)
class Commit(Record):
    id: str | None = None
    message: str = ""
    timestamp: datetime | None = None
    added: list[str] | None = None
    removed: list[str] | None = None
    modified: list[str] | None = None

    def files(self) -> list[str] | None:
        """Changed files, or None when GitHub did not list them."""
        if self.added is None and self.removed is None and self.modified is None:
            return None
        return [*(self.added or ()), *(self.modified or ()), *(self.removed or ())]


@record(frozen=True)
class PushEvent(Record):
    """The fields of a `push` delivery batchcron uses."""

    ref: str = field(min_length=1)
    before: str | None = None
    after: str = field(min_length=1)
    created: bool = False
    deleted: bool = False
    forced: bool = False
    compare: str | None = None
    repository: Repository
    pusher: Pusher | None = None
    sender: Sender | None = None
    commits: list[Commit] = field(default_factory=list)
    head_commit: Commit | None = None

    @check("after")
    @classmethod
    def _commit_sha(cls, value: str) -> str:
        if not _COMMIT_SHA.fullmatch(value):
            raise ValueError("must be a commit SHA (40 or 64 hex characters)")
        return value

    @check("compare")
    @classmethod
    def _github_url(cls, value: str | None) -> str | None:
        if value is not None and (
            not value.startswith(COMPARE_PREFIX) or any(c.isspace() for c in value)
        ):
            raise ValueError(f"must be a {COMPARE_PREFIX} URL")
        return value

    @property
    def who(self) -> str | None:
        if self.pusher and self.pusher.name:
            return self.pusher.name
        return self.sender.login if self.sender else None

    def changed_files(self) -> list[str] | None:
        """Files added, modified or removed by all pushed commits; None when unknown."""
        if not self.commits:
            return None
        files: list[str] = []
        for commit in self.commits:
            listed = commit.files()
            if listed is None:
                return None
            files.extend(listed)
        return list(dict.fromkeys(files))


@record(frozen=True)
class PingEvent(Record):
    zen: str | None = None
    hook_id: int | None = None


_M = TypeVar("_M", bound=Record)


def parse_push(payload: dict[str, Any]) -> PushEvent:
    return _parse(PushEvent, payload, "push")


def parse_ping(payload: dict[str, Any]) -> PingEvent:
    return _parse(PingEvent, payload, "ping")


def _parse(model: type[_M], payload: dict[str, Any], event: str) -> _M:
    try:
        return model.model_validate(payload)
    except RecordError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise BadPayloadError(f"not a {event} payload: {problems}") from None


# --- GitHub filter patterns ------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    """A GitHub filter pattern as a regex: `*` any run of characters but `/`, `**` any run
    including `/` (`**/` also matches no directory), `?`/`+` zero-or-one/one-or-more of the
    preceding character, `[...]` a class, `\\` escapes."""
    out: list[str] = []
    atom = False  # can `?`/`+` apply to what was just emitted?
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i) and (not out or out[-1].endswith("/")):
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
                i += 1
            atom = False
            continue
        if char in "?+" and atom:
            out.append(char)
            atom = False
            i += 1
            continue
        if char == "[":
            end = pattern.find("]", i + 2)
            if end != -1:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
                out.append(f"[{'^' if negate else ''}{escaped}]")
                atom = True
                i = end + 1
                continue
        if char == "\\" and i + 1 < n:
            i += 1
            char = pattern[i]
        out.append(re.escape(char))
        atom = True
        i += 1
    return re.compile("".join(out), re.DOTALL)


def glob_match(pattern: str, text: str) -> bool:
    """Does `text` match one GitHub filter `pattern` (no `!` handling)?"""
    return _compile(pattern).fullmatch(text) is not None


def filter_match(patterns: Sequence[str], text: str) -> bool:
    """GitHub list semantics: `text` is in when the last pattern that matches it is positive
    (`!pattern` excludes what earlier patterns included; a later positive re-includes)."""
    included = False
    for pattern in patterns:
        negative = pattern.startswith("!")
        body = pattern[1:] if negative else pattern
        if glob_match(body, text):
            included = not negative
    return included


# --- push matching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """Whether a push triggers a job, and why not when it does not."""

    matched: bool
    reason: str | None = None


def ref_matches(on_push: OnPush, ref: str) -> bool:
    """Branch patterns match the branch name of `refs/heads/...`; patterns that start with
    `refs/` match the full ref (so only `refs/tags/...` patterns match tag pushes)."""
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    included = False
    for pattern in on_push.branches:
        negative = pattern.startswith("!")
        body = pattern[1:] if negative else pattern
        if body.startswith("refs/"):
            hit = glob_match(body, ref)
        else:
            hit = branch is not None and glob_match(body, branch)
        if hit:
            included = not negative
    return included


def paths_match(on_push: OnPush, files: Sequence[str] | None) -> bool:
    """`paths`: run when any changed file is included. `paths_ignore`: run unless every changed
    file is ignored. Unknown file lists (no commits) always match."""
    if files is None:
        return True
    if on_push.paths:
        return any(filter_match(on_push.paths, path) for path in files)
    if on_push.paths_ignore:
        return not files or not all(filter_match(on_push.paths_ignore, path) for path in files)
    return True


def skip_marker(message: str | None) -> str | None:
    """The skip marker in a commit message, if any (case-insensitive)."""
    lowered = (message or "").lower()
    for marker in SKIP_MARKERS:
        if marker in lowered:
            return marker
    return None


def is_deleted(push: PushEvent) -> bool:
    return push.deleted or push.after.strip("0") == ""


def stale_reason(push: PushEvent, now: datetime, max_age: timedelta = MAX_PUSH_AGE) -> str | None:
    """Why a push is too old to start runs (its head commit is older than `max_age`, or has no
    time to judge by), or None. Guards against a captured delivery replayed later."""
    commit = push.head_commit
    if commit is None or commit.timestamp is None:
        return "the push has no head commit timestamp to check its age against"
    stamp = commit.timestamp
    if stamp.tzinfo is None:
        return "the head commit timestamp has no time zone"
    age = now - stamp
    if age > max_age:
        hours = int(max_age.total_seconds() // 3600)
        return (
            f"head commit {commit.id or push.after} is from {stamp.isoformat()}, older than "
            f"{hours} hours (GitHub's redelivery window): a replayed delivery starts nothing"
        )
    return None


def match_push(job: Job, push: PushEvent) -> Match:
    """Does `push` trigger `job`? (Repository and enabled are checked by the caller.)"""
    on_push = job.on_push
    if on_push is None:
        return Match(False, "job has no on_push")
    if is_deleted(push):
        return Match(False, f"{push.ref} was deleted")
    if not ref_matches(on_push, push.ref):
        if push.ref.startswith("refs/tags/"):
            return Match(False, f"tag push {push.ref} (list refs/tags/... patterns to run on tags)")
        return Match(False, f"{push.ref} does not match branches {list(on_push.branches)}")
    marker = skip_marker(push.head_commit.message if push.head_commit else None)
    if marker:
        return Match(False, f"{marker} in the head commit message")
    if not paths_match(on_push, push.changed_files()):
        if on_push.paths:
            return Match(False, "no changed file matches paths")
        return Match(False, "every changed file is in paths_ignore")
    return Match(True)


def same_repository(job: Job, full_name: str) -> bool:
    return job.repository.lower() == full_name.lower()
