"""The run page's Slack alert: mrkdwn as safe HTML, and the press its buttons send."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from batchcron.adapters.slack_app import signature_valid
from batchcron.outcomes.alerting import with_buttons
from batchcron.pushes.interaction import parse
from batchcron.ui.slack import blocks, mrkdwn, press, signed_headers


def test_mrkdwn_escapes_everything_then_formats() -> None:
    shown = str(mrkdwn("*Job*\n`a&lt;b` <script> <https://x.example/?a=1&amp;b=2|logs> _it_ :x:"))
    assert "<strong>Job</strong><br>" in shown
    assert "<code>a&lt;b</code>" in shown
    assert "<script" not in shown and " script " in shown  # Slack reads <…> as a link
    assert '<a href="https://x.example/?a=1&amp;b=2" rel="noreferrer noopener">logs</a>' in shown
    assert "<em>it</em>" in shown and "\u274c" in shown


def test_links_other_than_http_are_text() -> None:
    shown = str(mrkdwn('<javascript:alert(1)|click> <@U123> "q"'))
    assert "href" not in shown and "click" in shown and "&quot;q&quot;" in shown


def test_blocks_and_a_signed_press_the_handler_reads() -> None:
    message = with_buttons(
        {
            "text": "failed",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "x <b> failed"}},
                {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Run*\n`r-1`"}]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://a|log>"}]},
            ],
        },
        "x",
        paused=False,
    )
    shown = blocks(message)
    assert [b["type"] for b in shown] == ["header", "section", "context", "actions"]
    assert str(shown[0]["html"]) == "x &lt;b&gt; failed"
    assert [b["action_id"] for b in shown[3]["buttons"]] == ["rerun", "pause", "ack"]

    body = press(
        message,
        action_id="rerun",
        value="x",
        channel="C1",
        message_ts="1.000001",
        response_url="http://127.0.0.1:9/response/local",
        now=1_800_000_000.0,
    )
    again = press(
        message,
        action_id="rerun",
        value="x",
        channel="C1",
        message_ts="1.000001",
        response_url="http://127.0.0.1:9/response/local",
        now=1_800_000_000.0,
    )
    interaction = parse(body)
    assert (interaction.action, interaction.job, interaction.channel) == ("rerun", "x", "C1")
    assert interaction.key != parse(again).key  # every press is its own
    assert json.loads(parse_qs(body.decode())["payload"][0])["type"] == "block_actions"
    headers = signed_headers("s3cret", body, 1_800_000_000)
    assert signature_valid(
        "s3cret",
        body,
        headers["X-Slack-Request-Timestamp"],
        headers["X-Slack-Signature"],
        now=1_800_000_010.0,
    )
    assert not signature_valid(
        "other",
        body,
        headers["X-Slack-Request-Timestamp"],
        headers["X-Slack-Signature"],
        now=1_800_000_010.0,
    )
