"""Slack interactions, pure: a verified `POST /slack/actions` body (form-encoded `payload=`
holding a `block_actions` JSON document, https://api.slack.com/reference/interaction-payloads/
block-actions) -> one Interaction. Anything else is BadPayloadError (400), whatever its shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from batchcron.pushes.signature import BadPayloadError

# The buttons batchcron puts on a failure alert (their action_id), each with the job as value.
ACTIONS = frozenset({"rerun", "pause", "resume", "ack"})
MAX_ID = 255  # ids and names from Slack are short; a longer one is not from Slack


@dataclass(frozen=True)
class Interaction:
    """One button press."""

    action: str  # one of ACTIONS
    job: str
    user_id: str
    user_name: str
    key: str  # trigger_id and action_ts: the same press (a double click, a retry) acts once
    response_url: str
    channel: str | None
    message_ts: str | None
    message: dict[str, Any]  # the message the button is on, as Slack sent it


def parse(body: bytes) -> Interaction:
    """The button press in a verified body; BadPayloadError for anything else."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise BadPayloadError("body is not a form-encoded Slack interaction") from None
    values = form.get("payload") or []
    if len(values) != 1:
        raise BadPayloadError("body has no payload field")
    try:
        payload = json.loads(values[0])
    except (ValueError, RecursionError):
        raise BadPayloadError("payload is not JSON") from None
    if not isinstance(payload, dict):
        raise BadPayloadError("payload is not a JSON object")
    if payload.get("type") != "block_actions":
        raise BadPayloadError("not a block_actions interaction")
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise BadPayloadError("interaction has no single action")
    action = actions[0]
    action_id = _text(action, "action_id")
    if action_id not in ACTIONS:
        raise BadPayloadError("unknown action")
    user = _object(payload, "user")
    user_id = _text(user, "id")
    user_name = _text(user, "username", required=False) or _text(user, "name", required=False)
    trigger = _text(payload, "trigger_id", required=False)
    action_ts = _text(action, "action_ts", required=False)
    if not trigger and not action_ts:
        raise BadPayloadError("interaction has neither trigger_id nor action_ts")
    response_url = _text(payload, "response_url", limit=2000)
    if not response_url.startswith(("https://", "http://")):
        raise BadPayloadError("response_url is not a URL")
    channel = payload.get("channel")
    container = payload.get("container")
    message = payload.get("message")
    return Interaction(
        action=action_id,
        job=_text(action, "value"),
        user_id=user_id,
        user_name=user_name or user_id,
        key=f"{trigger or '-'}#{action_ts or '-'}",
        response_url=response_url,
        channel=_text(channel, "id", required=False) if isinstance(channel, dict) else None,
        message_ts=(
            _text(container, "message_ts", required=False) if isinstance(container, dict) else None
        ),
        message=message if isinstance(message, dict) else {},
    )


def _object(parent: dict[str, Any], name: str) -> dict[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise BadPayloadError(f"interaction has no {name}")
    return value


def _text(parent: dict[str, Any], name: str, *, required: bool = True, limit: int = MAX_ID) -> str:
    """A string field: present (when required), a string, printable and not too long."""
    value = parent.get(name)
    if value is None or value == "":
        if required:
            raise BadPayloadError(f"interaction has no {name}")
        return ""
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise BadPayloadError(f"interaction's {name} is malformed")
    return value
