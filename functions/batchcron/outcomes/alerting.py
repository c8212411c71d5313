"""Alert policy and Slack messages. Pure: decisions and Block Kit dicts, no I/O.

Policy (per job `notify`): a run's terminal FAILED alerts "failed" the first time, then
"still failing (N in a row)" on the 2nd consecutive failure and every `still_failing_every`-th
after (0 = never); the first SUCCEEDED after failures alerts "recovered (after N failures)"
when `notify.recovered`. A failed attempt that Batch retries is not an outcome and never alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from batchcron.catalogue.model import Job, Notify
from batchcron.catalogue.prices import PriceSettings
from batchcron.models import Alert, Run, Status, duration_text, parse_time
from batchcron.outcomes.events import explain_stuck, stuck_reason

DEFAULT_LOG_GROUP = "/aws/batch/job"  # where Batch logs when a job definition names no group
# Block Kit's limits (https://api.slack.com/reference/block-kit/blocks): every message is built
# within them whatever the input, or Slack answers 400 invalid_blocks and the alert never goes.
MAX_HEADER = 150
MAX_FIELD = 2000
MAX_TEXT = 3000  # a section's text, a context element's text
MAX_FALLBACK = 3000  # the top-level `text` (notifications); Slack truncates far above this
# Characters a URL may keep in a Slack link; anything else (<, >, |, spaces, quotes) is
# percent-encoded, so a link can neither end early nor carry a mention.
URL_SAFE = "/:?#[]@!$&'()*+,;=%-._~"

OUTCOME_KINDS = frozenset({"failed", "still_failing", "recovered", "stuck", "paused"})
FAILURE_KINDS = frozenset({"failed", "still_failing", "stuck", "paused"})  # say what it cost


def pause_due(failures: int, pause_after: int | None) -> bool:
    """Whether the `failures`-th failure in a row pauses a job with `pause_after_failures`
    (at N, and again at every N more after an operator resumed it without a success)."""
    return bool(pause_after) and failures > 0 and failures % int(pause_after or 1) == 0


# --- policy ----------------------------------------------------------------------------------


def should_alert_failure(failures: int, still_failing_every: int) -> bool:
    """Whether the `failures`-th consecutive failure (1-based) alerts."""
    if failures <= 1:
        return failures == 1
    if still_failing_every <= 0:
        return False
    return failures == 2 or failures % still_failing_every == 0


def outcome_alert(
    status: Status,
    notify: Notify,
    failures_before: int,
    *,
    stuck: bool = False,
    created_at: str | None = None,
    pause_after: int | None = None,
) -> Alert | None:
    """The alert a run's terminal status calls for, given the failure streak before it. A
    failure that pauses the job (`pause_after_failures`) always alerts, as `paused`."""
    if status == Status.FAILED and pause_due(failures_before + 1, pause_after):
        return Alert(kind="paused", failures=failures_before + 1, created_at=created_at)
    if not notify.enabled or status not in (Status.FAILED, Status.SUCCEEDED):
        return None
    if status == Status.SUCCEEDED:
        if failures_before > 0 and notify.recovered:
            return Alert(kind="recovered", failures=failures_before, created_at=created_at)
        return None
    failures = failures_before + 1
    if not should_alert_failure(failures, notify.still_failing_every):
        return None
    kind = "stuck" if stuck else ("failed" if failures == 1 else "still_failing")
    return Alert(kind=kind, failures=failures, created_at=created_at)


# --- links -----------------------------------------------------------------------------------


def _console_fragment(text: str) -> str:
    """The CloudWatch console's fragment encoding: URL-encode twice, then '%' -> '$'."""
    return quote(quote(text, safe=""), safe="").replace("%", "$")


def log_stream_url(region: str, log_group: str, log_stream: str) -> str:
    """CloudWatch Logs console page of one log stream."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{_console_fragment(log_group)}"
        f"/log-events/{_console_fragment(log_stream)}"
    )


def batch_job_url(region: str, batch_job_id: str) -> str:
    """AWS Batch console page of one job."""
    return (
        f"https://{region}.console.aws.amazon.com/batch/home?region={region}"
        f"#jobs/detail/{quote(batch_job_id, safe='')}"
    )


def github_url(repository: str, git_ref: str | None = None) -> str:
    """The repository, or the commit when the ref is a sha."""
    base = f"https://github.com/{repository}"
    if git_ref and _looks_like_sha(git_ref):
        return f"{base}/commit/{git_ref}"
    return base


def region_of(arn: str | None) -> str | None:
    """The region field of an ARN (arn:partition:service:region:account:resource)."""
    if not arn or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    return parts[3] if len(parts) > 4 and parts[3] else None


def _looks_like_sha(ref: str) -> bool:
    return 7 <= len(ref) <= 40 and all(c in "0123456789abcdef" for c in ref.lower())


# --- message ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """Where the run's logs and console pages are."""

    region: str
    log_group: str | None = None


def title(run: Run, alert: Alert) -> tuple[str, str]:
    """(emoji, headline) for an alert."""
    job = run.job
    match alert.kind:
        case "failed":
            return ":x:", f"{job} failed"
        case "still_failing":
            return ":x:", f"{job} still failing ({alert.failures} in a row)"
        case "recovered":
            failures = "failure" if alert.failures == 1 else "failures"
            return ":white_check_mark:", f"{job} recovered (after {alert.failures} {failures})"
        case "stuck":
            return ":hourglass:", f"{job} stuck in RUNNABLE and cancelled"
        case "paused":
            return ":double_vertical_bar:", f"{job} paused after {alert.failures} failures in a row"
        case "missed":
            return ":warning:", f"{job} missed a scheduled run"
        case "submit_failed":
            return ":warning:", f"{job} could not be submitted to AWS Batch"
        case "skipped":
            return ":warning:", f"{job} skipped {alert.failures or 3} times in a row"
        case _:
            return ":information_source:", f"{job}: {alert.kind}"


def why(run: Run, alert: Alert) -> str | None:
    """A sentence on what happened, beyond the status reason."""
    match alert.kind:
        case "stuck":
            reason = stuck_reason(Status.FAILED, run.reason) or "unknown"
            extra = f" ({alert.failures} failures in a row)" if alert.failures > 1 else ""
            return (
                f"It waited in RUNNABLE past the job queue's time limit because "
                f"{explain_stuck(reason)} (`{reason}`), so AWS Batch cancelled it{extra}."
            )
        case "paused":
            return (
                f"batchcron paused it (pause_after_failures: {alert.failures}): no scheduled run "
                f"starts until it is resumed with `batchcron resume {_escape(run.job)}` or the "
                "Resume button on its status page."
            )
        case "missed":
            return "It was not started before its starting deadline."
        case "submit_failed":
            return "SubmitJob failed; scheduled runs are retried until their starting deadline."
        case "skipped":
            return "Its previous run is still active (concurrency: forbid); check it is not hung."
        case _:
            return None


def trigger_text(run: Run) -> str:
    """Schedule slot, push (sha with compare link) or manual."""
    if run.foreign:
        return "submitted outside batchcron"
    if run.trigger in ("schedule", "backfill"):
        slot = parse_time(run.slot or run.created_at).strftime("%Y-%m-%d %H:%M UTC")
        return f"{run.trigger}, slot {slot}"
    if run.trigger == "push":
        sha = (run.git_ref or "")[:7] or "unknown"
        sha = _escape(sha)
        shown = _link(run.compare_url, sha, 1000) if run.compare_url else f"`{sha}`"
        by = f" by {_fit(_escape(run.pusher), 200)}" if run.pusher else ""
        return f"push {shown}{by}"
    if run.trigger == "upstream":
        return "after " + (", ".join(f"`{run_id}`" for run_id in run.upstream_runs) or "upstream")
    return "manual"


def attempt_text(run: Run) -> str | None:
    if run.status not in (Status.FAILED, Status.SUCCEEDED) and not run.attempts:
        return None
    done = max(len(run.attempts), 1)
    return f"{done} of {run.max_attempts or done}"


def message(
    run: Run,
    alert: Alert,
    job: Job | None,
    where: Where,
    prices: PriceSettings | None = None,
) -> dict[str, Any]:
    """The Slack message (Block Kit, with a plain-text fallback) for one alert; a failure's
    says what the run cost (an estimate, docs/cost.md)."""
    emoji, headline = title(run, alert)
    repository = run.repository or (job.repository if job else None)
    fields: list[tuple[str, str]] = [("Job", f"`{_fit(_escape(run.job), 500)}`")]
    if repository:
        fields.append(("Repository", _link(github_url(repository), _escape(repository), 1000)))
    fields.append(("Trigger", trigger_text(run)))
    fields.append(("Status", f"`{run.status.value}`"))
    if run.exit_code is not None:
        fields.append(("Exit code", f"`{run.exit_code}`"))
    attempt = attempt_text(run)
    if attempt:
        fields.append(("Attempt", attempt))
    duration = duration_text(run.duration_seconds)
    if duration:
        fields.append(("Duration", duration))
    if alert.kind in FAILURE_KINDS:
        from batchcron.outcomes.cost import cost_text, run_cost

        cost = run_cost(run, job, region=where.region, settings=prices)
        if cost is not None:
            tried = f", {cost.attempts} attempts" if cost.attempts > 1 else ""
            fields.append(("Cost", f"{_escape(cost_text(cost.usd))} (estimate{tried})"))
    fields.append(("Run", f"`{_fit(_escape(run.run_id), 500)}`"))

    header = _fit(_escape(headline), MAX_HEADER)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _fit(f"*{name}*\n{value}", MAX_FIELD)}
                for name, value in fields
            ],
        },
    ]
    detail = []
    sentence = why(run, alert)
    cause = _fit(_escape(run.specific_cause), 1000) if run.specific_cause else ""
    if run.reason:
        room = MAX_TEXT - len(sentence or "") - len("*Status reason*\n``````\n")
        room -= len(cause) + len("*Cause*\n``````\n") if cause else 0
        detail.append(f"*Status reason*\n```{_fit(_escape(run.reason), max(room, 40))}```")
    if cause:
        detail.append(f"*Cause*\n```{cause}```")
    children = run.children
    if children is not None and (children.failed or run.status == Status.FAILED):
        detail.append(children.sentence(run.child_kind or "array children"))
    if sentence:
        detail.append(sentence)
    if alert.blocks:
        detail.append(f"blocks: {', '.join(alert.blocks)} (waiting for this job to succeed)")
    if detail:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _fit("\n".join(detail))}}
        )
    links = _fit_links(_links(run, repository, where))
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    fallback = _fit(f"{emoji} {_escape(headline)}", MAX_FALLBACK)
    return {"text": fallback, "blocks": blocks}


# Slack app mode: the buttons on a failure alert (POST /slack/actions acts on them; their
# action_id and block_id are what batchcron.pushes.interaction reads).
ACTIONS_BLOCK = "batchcron_actions"
STATUS_BLOCK = "batchcron_status"
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000


def _button(action: str, label: str, job: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action,
        "text": {"type": "plain_text", "text": label[:MAX_BUTTON_TEXT]},
        "value": job[:MAX_BUTTON_VALUE],
    }
    if style:
        button["style"] = style
    return button


def with_buttons(alert_message: Mapping[str, Any], job: str, *, paused: bool) -> dict[str, Any]:
    """`alert_message` with Re-run, Pause job (Resume job when paused) and Acknowledge."""
    pause = ("resume", "Resume job") if paused else ("pause", "Pause job")
    actions = {
        "type": "actions",
        "block_id": ACTIONS_BLOCK,
        "elements": [
            _button("rerun", "Re-run", job, "primary"),
            _button(*pause, job),
            _button("ack", "Acknowledge", job),
        ],
    }
    return {**alert_message, "blocks": [*alert_message.get("blocks", []), actions]}


def recovered_first(alert_message: Mapping[str, Any], line: str) -> dict[str, Any]:
    """A streak's first message once it recovered: no buttons, and `line` ("recovered 02:14 by
    <run>") as its status."""
    blocks = [
        block
        for block in alert_message.get("blocks", [])
        if block.get("block_id") not in (ACTIONS_BLOCK, STATUS_BLOCK)
    ]
    status = {
        "type": "context",
        "block_id": STATUS_BLOCK,
        "elements": [{"type": "mrkdwn", "text": _fit(f":white_check_mark: {_escape(line)}")}],
    }
    return {**alert_message, "blocks": [*blocks, status]}


def plain_message(text: str) -> dict[str, Any]:
    """A one-line alert (deadlines): `:alarm_clock:` and the text, escaped and cut to fit."""
    shown = _fit(f":alarm_clock: {_escape(text)}", MAX_TEXT)
    return {
        "text": _fit(shown, MAX_FALLBACK),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": shown}}],
    }


def _links(run: Run, repository: str | None, where: Where) -> list[str]:
    region = region_of(run.job_queue) or where.region
    links = []
    stream = run.log_stream or next(
        (attempt.log_stream for attempt in reversed(run.attempts) if attempt.log_stream), None
    )
    if stream:
        url = log_stream_url(region, where.log_group or DEFAULT_LOG_GROUP, stream)
        links.append(_link(url, "CloudWatch Logs", 1000))
    if run.batch_job_id:
        links.append(_link(batch_job_url(region, run.batch_job_id), "AWS Batch job", 1000))
    if repository:
        if run.git_ref and _looks_like_sha(run.git_ref):
            commit = f"commit {run.git_ref[:7]}"
            links.append(_link(github_url(repository, run.git_ref), commit, 1000))
        else:
            links.append(_link(github_url(repository), "GitHub repository", 1000))
    if run.compare_url:
        links.append(_link(run.compare_url, "compare", 1000))
    return [link if link.startswith("<") else "" for link in links]


def _fit_links(links: list[str]) -> str:
    """The links joined, dropping those that would pass a context element's limit."""
    kept: list[str] = []
    for link in links:
        if link and len(" · ".join([*kept, link])) <= MAX_TEXT:
            kept.append(link)
    return " · ".join(kept)


def _escape(text: str | None) -> str:
    """Slack's control characters (&, <, >) in text from outside: no mention, no link."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_url(url: str) -> str:
    """`url` as a Slack link target: percent-encoded outside URL_SAFE, `&` escaped."""
    return quote(url, safe=URL_SAFE).replace("&", "&amp;")


def _link(url: str, text: str, limit: int) -> str:
    """`<url|text>` (text already escaped); the text alone (cut) when that is longer than
    `limit` (a link cut short would be broken) or `url` is not http(s) (`<#C…>`, `<!…>`)."""
    link = f"<{safe_url(url)}|{text}>"
    if len(link) <= limit and url.startswith(("https://", "http://")):
        return link
    return _fit(text, limit)


def _fit(text: str, limit: int = MAX_TEXT) -> str:
    """`text` within `limit` characters, cut with an ellipsis; never ends inside an escape."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]  # a cut entity would show as text
    return cut + "…"


def texts(message: Mapping[str, Any]) -> str:
    """Every text in a message, joined (for logs and tests)."""
    found: list[str] = [str(message.get("text", ""))]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "text" and isinstance(item, str):
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message.get("blocks", []))
    return "\n".join(found)
