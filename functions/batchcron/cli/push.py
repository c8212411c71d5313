"""A signed sample GitHub push, sent the way GitHub sends it (for `batchcron push`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from batchcron.models import utcnow

ZERO_SHA = "0" * 40


class PushError(RuntimeError):
    """The webhook could not be reached."""


@dataclass(frozen=True)
class Delivery:
    status: int
    body: Any
    delivery_id: str
    sha: str


def payload(
    repository: str,
    branch: str = "main",
    files: tuple[str, ...] = ("README.md",),
    *,
    host: str = "github.com",
) -> dict[str, Any]:
    """A push event body with the fields GitHub (or a GitHub Enterprise Server on `host`)
    sends that batchcron reads, pushed now."""
    owner, name = repository.split("/", 1)
    before, after = secrets.token_hex(20), secrets.token_hex(20)
    moment = utcnow()
    now = moment.isoformat(timespec="seconds")
    site = f"https://{host}"
    commit = {
        "id": after,
        "tree_id": secrets.token_hex(20),
        "distinct": True,
        "message": "batchcron push: sample commit",
        "timestamp": now,
        "url": f"{site}/{repository}/commit/{after}",
        "author": {"name": "batchcron", "email": "batchcron@example.invalid", "username": owner},
        "committer": {"name": "batchcron", "email": "batchcron@example.invalid"},
        "added": [],
        "removed": [],
        "modified": list(files),
    }
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"{site}/{repository}/compare/{before[:12]}...{after[:12]}",
        "commits": [commit],
        "head_commit": commit,
        "repository": {
            "id": 1,
            "name": name,
            "full_name": repository,
            "private": False,
            "owner": {"name": owner, "login": owner},
            "html_url": f"{site}/{repository}",
            "pushed_at": int(moment.timestamp()),
            "default_branch": "main",
        },
        "pusher": {"name": "batchcron-cli", "email": "batchcron@example.invalid"},
        "sender": {"login": "batchcron-cli", "id": 1, "type": "User"},
    }


def signature(secret: str, body: bytes) -> str:
    """GitHub's X-Hub-Signature-256 value for `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send(url: str, secret: str, event: dict[str, Any], *, timeout: float = 15) -> Delivery:
    """POST `event` as GitHub would; returns the status and decoded answer."""
    import urllib.error
    import urllib.request

    body = json.dumps(event).encode("utf-8")
    delivery_id = str(uuid.uuid4())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/batchcron-cli",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Hook-ID": "0",
            "X-Hub-Signature-256": signature(secret, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ConnectionRefusedError):
            raise PushError(
                f"nothing answers at {url}: start local mode with `make run` (or "
                "`batchcron local`), or name a deployed stack with --stack"
            ) from None
        raise PushError(f"cannot reach {url}: {reason}") from None
    try:
        answer: Any = json.loads(raw) if raw else None
    except ValueError:
        answer = raw.decode("utf-8", "replace")
    return Delivery(status, answer, delivery_id, str(event.get("after", "")))
