"""Slack buttons -> actions: a verified, parsed button press on a failure alert re-runs the job
(the one submit path, trigger `manual`), pauses or resumes it, or acknowledges its failure
streak. Each press acts once (keyed on its trigger_id / action_ts); a user outside the
allow-list gets an ephemeral "not allowed" and nothing happens. The message then says who did
what (through its `response_url`). Knows nothing of HTTP or Lambda."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchcron.catalogue.errors import UnknownJobError
from batchcron.models import utcnow
from batchcron.observability import count, logger
from batchcron.pushes.interaction import Interaction
from batchcron.scheduling.control import ActionError, Control
from batchcron.store.items import ConflictError
from batchcron.store.runs import RunStore

STATUS_BLOCK = "batchcron_status"  # the context block saying who did what
ACTIONS_BLOCK = "batchcron_actions"
MAX_STATUS_LINES = 8
MAX_TEXT = 3000


@dataclass(frozen=True)
class Services:
    """What a button press needs."""

    store: RunStore
    control: Control
    allowed_users: tuple[str, ...]  # empty: everyone who sees the alert
    respond: Callable[[str, dict[str, Any]], None]  # response_url, message
    ephemeral: Callable[[str, str, str], None]  # channel, user, text
    clock: Callable[[], datetime] = utcnow


def handle(interaction: Interaction, services: Services) -> str:
    """Act on one press; what happened, as one line (also put on the message)."""
    who = f"@{interaction.user_name}"
    if services.allowed_users and interaction.user_id not in services.allowed_users:
        count("SlackActionsRefused")
        logger.warning("Slack action refused: user not allowed", user=interaction.user_id)
        text = f"Not allowed: {who} may not act on batchcron alerts."
        if interaction.channel:
            services.ephemeral(interaction.channel, interaction.user_id, text)
        else:
            services.respond(
                interaction.response_url,
                {"response_type": "ephemeral", "replace_original": False, "text": text},
            )
        return "not allowed"
    if not services.store.claim_interaction(interaction.key, now=services.clock()):
        count("SlackActionsDuplicate")
        logger.info("Slack action already handled", action=interaction.action)
        return "already handled"
    line = _act(interaction, services, who)
    count("SlackActions")
    logger.info("Slack action", action=interaction.action, job=interaction.job, result=line)
    services.respond(interaction.response_url, updated(interaction, line))
    return line


def _act(interaction: Interaction, services: Services, who: str) -> str:
    job = interaction.job
    try:
        match interaction.action:
            case "rerun":
                outcome = services.control.run_now(
                    job, now=services.clock(), pusher=interaction.user_name
                )
                if outcome.ok:
                    return f"re-run by {who}: {outcome.run_id}"
                return f"re-run by {who} not started: {outcome.describe()}"
            case "pause":
                services.control.set_paused(
                    job,
                    True,
                    now=services.clock(),
                    who=f"{interaction.user_name} (Slack)",
                    reason="paused from its Slack alert",
                )
                return f"paused by {who}"
            case "resume":
                services.control.set_paused(job, False, now=services.clock())
                return f"resumed by {who}"
            case _:
                return _acknowledge(interaction, services, who)
    except UnknownJobError:
        return f"{who}: {job} is no longer in the catalogue"
    except ActionError as exc:
        return f"{who}: {exc}"


def _acknowledge(interaction: Interaction, services: Services, who: str) -> str:
    """Silence "still failing" for the streak whose thread this message starts."""
    try:
        services.store.update_job_state(
            interaction.job,
            {"slack_acked_by": interaction.user_name},
            condition="#slack_thread_ts = :ts",
            values={":ts": interaction.message_ts or "-"},
        )
    except ConflictError:
        return f"acknowledged by {who} (this failure streak is over)"
    return f"acknowledged by {who}"


def updated(interaction: Interaction, line: str) -> dict[str, Any]:
    """The message the button was on, with `line` in its status block and Pause/Resume
    swapped after a pause or a resume."""
    message = interaction.message
    blocks = [copy.deepcopy(b) for b in message.get("blocks") or [] if isinstance(b, dict)]
    lines: list[str] = []
    kept = []
    for block in blocks:
        if block.get("block_id") == STATUS_BLOCK:
            for element in block.get("elements") or []:
                if isinstance(element, dict) and isinstance(element.get("text"), str):
                    lines.extend(element["text"].split("\n"))
            continue
        if block.get("block_id") == ACTIONS_BLOCK and interaction.action in ("pause", "resume"):
            _swap_pause(block, paused=interaction.action == "pause")
        kept.append(block)
    lines = [*lines, _escape(line)][-MAX_STATUS_LINES:]
    text = "\n".join(lines)[-MAX_TEXT:]
    kept.append(
        {
            "type": "context",
            "block_id": STATUS_BLOCK,
            "elements": [{"type": "mrkdwn", "text": text}],
        }
    )
    fallback = message.get("text")
    return {
        "replace_original": True,
        "text": fallback if isinstance(fallback, str) and fallback else _escape(line),
        "blocks": kept[-50:],
    }


def _swap_pause(block: dict[str, Any], *, paused: bool) -> None:
    for element in block.get("elements") or []:
        if isinstance(element, dict) and element.get("action_id") in ("pause", "resume"):
            element.update(pause_button(str(element.get("value") or ""), paused=paused))


def pause_button(job: str, *, paused: bool) -> dict[str, Any]:
    """The Pause job button, or Resume job when the job is paused."""
    action, label = ("resume", "Resume job") if paused else ("pause", "Pause job")
    return {
        "type": "button",
        "action_id": action,
        "text": {"type": "plain_text", "text": label},
        "value": job,
    }


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
