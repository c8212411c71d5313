"""GitHub payloads, pure: the verified body as JSON, and the push and ping models (tolerant:
GitHub adds fields)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, TypeVar

from batchcron.pushes.signature import BadPayloadError
from batchcron.records import Record, RecordError, check, field, record

ZERO_SHA = "0" * 40
# A commit id: SHA-1 (40 hex) or SHA-256 (64 hex) repositories. It becomes the job's GIT_REF.
_COMMIT_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
COMPARE_PREFIX = "https://github.com/"


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
