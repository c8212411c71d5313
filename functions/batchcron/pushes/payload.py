"""GitHub payloads, pure: the verified body (JSON, or a form's `payload` field) as an object,
and the push and ping models (tolerant: GitHub adds fields)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from batchcron.pushes.signature import BadPayloadError
from batchcron.records import Record, RecordError, check, field, record

ZERO_SHA = "0" * 40
# A commit id: SHA-1 (40 hex) or SHA-256 (64 hex) repositories. It becomes the job's GIT_REF.
_COMMIT_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
DEFAULT_GITHUB_HOSTS = ("github.com",)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def parse_body(body: bytes, content_type: str | None = None) -> dict[str, Any]:
    """The verified body as a JSON object: the body itself (`application/json`) or the
    `payload` field of a form (`application/x-www-form-urlencoded`, GitHub's default);
    BadPayloadError when it is anything else."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == FORM_CONTENT_TYPE or (not kind and body[:8] == b"payload="):
        return parse_json(_form_payload(body))
    return parse_json(body)


def _form_payload(body: bytes) -> bytes:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise BadPayloadError("form body is not URL-encoded text") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=True, max_num_fields=100)
    except ValueError:
        raise BadPayloadError("form body is not URL-encoded") from None
    values = fields.get("payload")
    if not values or len(values) != 1:
        raise BadPayloadError("form body has no single payload field")
    return values[0].encode("utf-8", "surrogatepass")


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object; BadPayloadError when it is anything else."""
    try:
        loaded = json.loads(body)
    except UnicodeDecodeError:
        raise BadPayloadError("body is not UTF-8 JSON") from None
    except (ValueError, RecursionError):
        raise BadPayloadError("body is not JSON") from None
    if not isinstance(loaded, dict):
        raise BadPayloadError("body is not a JSON object")
    return loaded


def github_hosts(text: str | None) -> tuple[str, ...]:
    """Host names from a comma-separated list (`GITHUB_HOSTS`); github.com when empty."""
    hosts = tuple(part.strip().lower() for part in (text or "").split(",") if part.strip())
    return hosts or DEFAULT_GITHUB_HOSTS


def url_on_hosts(url: str, hosts: Iterable[str]) -> bool:
    """Is `url` an https URL on one of `hosts` (no spaces, no credentials, no port games)?"""
    if any(char.isspace() for char in url):
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or parts.username or parts.password or port not in (None, 443):
        return False
    return host in {name.lower() for name in hosts}


# --- payload models (tolerant: GitHub adds fields) -------------------------------------------


@record(frozen=True)
class Repository(Record):
    full_name: str
    html_url: str | None = None
    # When the push happened: epoch seconds in push payloads (ISO text in some others).
    pushed_at: datetime | None = None


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

    def bad_url(self, hosts: Iterable[str]) -> str | None:
        """What is wrong with the push's URLs (`compare`, `repository.html_url`) for a stack
        that accepts `hosts`, or None. Checked only once a job follows the repository."""
        hosts = tuple(hosts)
        named = ", ".join(f"https://{host}/" for host in hosts)
        for where, url in (
            ("compare", self.compare),
            ("repository.html_url", self.repository.html_url),
        ):
            if url is not None and not url_on_hosts(url, hosts):
                return f"{where}: must be a {named} URL (GITHUB_HOSTS)"
        return None

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
