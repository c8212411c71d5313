"""A Slack message as the run page shows it (Block Kit blocks -> safe HTML pieces), and the
signed `block_actions` press its buttons send in local mode (docs/alerts.md). Pure."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup

# The emoji batchcron's alerts use, as the characters Slack shows for them.
EMOJI = {
    "x": "\u274c",
    "white_check_mark": "\u2705",
    "warning": "\u26a0\ufe0f",
    "alarm_clock": "\u23f0",
    "hourglass": "\u231b",
    "double_vertical_bar": "\u23f8\ufe0f",
    "information_source": "\u2139\ufe0f",
    "red_circle": "\U0001f534",
}
LOCAL_USER_ID = "ULOCALUSER"
LOCAL_USER_NAME = "local-user"

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_CODE_BLOCK = re.compile(r"```(.+?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")


def _unslack(text: str) -> str:
    """Slack's own escapes (&lt; &gt; &amp;) back to characters."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _emoji(text: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _inline(text: str) -> str:
    """Escaped plain text with Slack's *bold*, _italic_, `code` and ```blocks```."""
    shown = html.escape(_unslack(text), quote=True)
    codes: list[str] = []

    def keep(markup: str) -> str:
        codes.append(markup)
        return f"\x00{len(codes) - 1}\x00"

    shown = _CODE_BLOCK.sub(lambda m: keep(f"<pre>{m.group(1).strip(chr(10))}</pre>"), shown)
    shown = _CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), shown)
    shown = _BOLD.sub(r"<strong>\1</strong>", _emoji(shown))
    shown = _ITALIC.sub(r"<em>\1</em>", shown)
    shown = re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], shown)
    return shown.replace("\n", "<br>")


def mrkdwn(text: str) -> Markup:
    """Slack mrkdwn as HTML: everything escaped, then links (http(s) only), bold, italic,
    code."""
    parts: list[str] = []
    at = 0
    for found in _LINK.finditer(text):
        parts.append(_inline(text[at : found.start()]))
        url, label = _unslack(found.group(1)), found.group(2)
        shown = _inline(label) if label else html.escape(url)
        if url.startswith(("https://", "http://")):
            parts.append(
                f'<a href="{html.escape(url, quote=True)}" rel="noreferrer noopener">{shown}</a>'
            )
        else:  # a mention or a channel: shown as its text, never a link
            parts.append(shown)
        at = found.end()
    parts.append(_inline(text[at:]))
    return Markup("".join(parts))  # every piece above is escaped


def plain(text: str) -> Markup:
    return Markup(_emoji(html.escape(_unslack(text), quote=True)))


def _text(element: Any) -> Markup:
    if not isinstance(element, dict) or not isinstance(element.get("text"), str):
        return Markup("")
    if element.get("type") == "mrkdwn":
        return mrkdwn(element["text"])
    return plain(element["text"])


def blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's blocks as the run page's template shows them: header, section (text and
    fields), context, divider, actions (their buttons); anything else is left out."""
    shown: list[dict[str, Any]] = []
    for block in message.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "header":
            shown.append({"type": "header", "html": _text(block.get("text"))})
        elif kind == "section":
            fields = [_text(field) for field in block.get("fields") or []]
            shown.append({"type": "section", "html": _text(block.get("text")), "fields": fields})
        elif kind == "context":
            elements = [_text(element) for element in block.get("elements") or []]
            shown.append({"type": "context", "elements": elements})
        elif kind == "divider":
            shown.append({"type": "divider"})
        elif kind == "actions":
            buttons = [
                {
                    "action_id": str(element.get("action_id") or ""),
                    "value": str(element.get("value") or ""),
                    "label": plain(str((element.get("text") or {}).get("text") or "")),
                    "style": str(element.get("style") or ""),
                }
                for element in block.get("elements") or []
                if isinstance(element, dict) and element.get("type") == "button"
            ]
            shown.append({"type": "actions", "buttons": buttons})
    return shown


@dataclass(frozen=True)
class SlackApp:
    """Local mode in Slack app mode: where its presses go and how they are signed."""

    signing_secret: str
    channel: str
    response_url: str  # on the sink (the only host the handler answers besides Slack's)


def press(
    message: dict[str, Any],
    *,
    action_id: str,
    value: str,
    channel: str,
    message_ts: str | None,
    response_url: str,
    now: float,
) -> bytes:
    """The form-encoded body Slack sends for a press of one button of `message`
    (https://api.slack.com/reference/interaction-payloads/block-actions); trigger_id and
    action_ts differ for every press."""
    button = next(
        (
            element
            for block in message.get("blocks") or []
            if isinstance(block, dict) and block.get("type") == "actions"
            for element in block.get("elements") or []
            if isinstance(element, dict) and element.get("action_id") == action_id
        ),
        {"type": "button", "action_id": action_id, "value": value},
    )
    user = {"id": LOCAL_USER_ID, "username": LOCAL_USER_NAME, "name": LOCAL_USER_NAME}
    payload = {
        "type": "block_actions",
        "user": user,
        "api_app_id": "ALOCALAPP",
        "team": {"id": "TLOCAL", "domain": "local"},
        "trigger_id": f"{int(now)}.local.{secrets.token_hex(8)}",
        "response_url": response_url,
        "channel": {"id": channel, "name": "alerts"},
        "container": {
            "type": "message",
            "message_ts": message_ts or f"{now:.6f}",
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "message": {"type": "message", "ts": message_ts or f"{now:.6f}", **message},
        "actions": [
            {
                **button,
                "action_id": action_id,
                "value": value,
                "block_id": "batchcron_actions",
                "action_ts": f"{now:.6f}{secrets.randbelow(1000):03d}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode("utf-8")


def signed_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Slack's signature headers: v0= HMAC-SHA256 over `v0:{timestamp}:{body}`."""
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }
