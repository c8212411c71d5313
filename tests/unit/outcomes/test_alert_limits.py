"""Every Slack message stays within Block Kit's limits and carries no mention or link from
outside input, whatever the job names, REPOSITORY, reasons, refs and compare URLs are."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchcron.models import Alert, Attempt, Run, Status, bound_text, bounded_key
from batchcron.outcomes.alerting import Where, message, recovered_first, texts, with_buttons
from batchcron.pushes.buttons import updated
from batchcron.pushes.interaction import Interaction
from tests.fault_injection.fake_slack import over_limits

KINDS = ["failed", "still_failing", "recovered", "stuck", "missed", "submit_failed", "skipped"]
NASTY = [
    "<!channel>",
    "<!here|here>",
    "<@U123>",
    "<https://evil.example|click>",
    "&lt;!channel&gt;",
    "`",
    "```",
    "|",
    "*_~",
    "\u200b",
    "\n",
    "é",
    "😀",
]
# Our own links: <https://...|text>, with no <, >, | or whitespace in the URL and none of <, > in
# the text. Anything else starting with "<" would be a mention, a channel link or a broken link.
OWN_LINK = re.compile(r"<https?://[^\s<>|]+\|[^<>]*>")


def nasty_text(max_size: int) -> st.SearchStrategy[str]:
    """Short mixes of Slack's control sequences, or one repeated up to `max_size` characters."""
    pieces = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
    repeated = st.builds(
        lambda piece, n: (piece * n)[:max_size],
        st.sampled_from([*NASTY, "a", "&", "é"]),
        st.integers(0, max_size),
    )
    return st.one_of(st.lists(pieces, max_size=10).map("".join), repeated)


@st.composite
def runs(draw: Any) -> Run:
    status = draw(st.sampled_from(list(Status)))
    trigger = draw(st.sampled_from(["schedule", "push", "manual"]))
    attempts = draw(
        st.lists(
            st.builds(
                Attempt,
                exit_code=st.none() | st.integers(-1, 255),
                reason=st.none() | nasty_text(3000),
                log_stream=st.none() | nasty_text(600),
            ),
            max_size=4,
        )
    )
    return Run(
        job=draw(nasty_text(300)) or "job",
        run_id=draw(nasty_text(300)) or "run",
        trigger=trigger,
        status=status,
        created_at="2026-11-02T01:00:00.000Z",
        slot="2026-11-02T01:00:00.000Z" if trigger == "schedule" else None,
        repository=draw(st.none() | nasty_text(5000)),
        git_ref=draw(st.none() | nasty_text(200) | st.just("0123456789abcdef0123")),
        pusher=draw(st.none() | nasty_text(2000)),
        compare_url=draw(
            st.none()
            | nasty_text(3000)
            | st.builds(lambda tail: "https://github.com/a/b/compare/" + tail, nasty_text(3000))
        ),
        batch_job_id=draw(st.none() | nasty_text(200)),
        job_queue=draw(st.none() | nasty_text(200) | st.just("arn:aws:batch:<!channel>:1:q/x")),
        reason=draw(st.none() | nasty_text(100_000)),
        exit_code=draw(st.none() | st.integers(-1, 255)),
        log_stream=draw(st.none() | nasty_text(600)),
        attempts=attempts,
        duration_seconds=draw(st.none() | st.floats(0, 1e7)),
        foreign=draw(st.booleans()),
    )


def _check(built: dict[str, Any]) -> None:
    assert over_limits(built) == []
    assert len(built["blocks"]) <= 50
    assert len(built["text"]) <= 3000
    stripped = OWN_LINK.sub("", texts(built))
    assert "<" not in stripped and ">" not in stripped, stripped[:300]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run=runs(),
    kind=st.sampled_from(KINDS),
    failures=st.integers(0, 10**6),
    log_group=st.none() | nasty_text(600),
)
def test_every_alert_is_within_block_kit_limits_and_escaped(
    run: Run, kind: str, failures: int, log_group: str | None
) -> None:
    built = message(run, Alert(kind=kind, failures=failures), None, Where("eu-west-2", log_group))
    _check(built)


def test_compare_url_with_a_channel_mention_does_not_ping() -> None:
    run = Run(
        job="site",
        run_id="site-20261102T010000000",
        trigger="push",
        status=Status.FAILED,
        created_at="2026-11-02T01:00:00.000Z",
        repository="acme/site",
        git_ref="0123456789abcdef0123456789abcdef01234567",
        pusher="<!channel> hi",
        compare_url="https://github.com/acme/site/compare/a...b<!channel>|x>",
    )
    built = message(run, Alert(kind="failed", failures=1), None, Where("eu-west-2"))
    _check(built)
    assert "<!channel>" not in texts(built)
    assert "%3C%21channel%3E" in texts(built) or "%3C!channel%3E" in texts(built)


def test_huge_repository_and_reason_fit() -> None:
    run = Run(
        job="x" * 3000,
        run_id="y" * 3000,
        trigger="manual",
        status=Status.FAILED,
        created_at="2026-11-02T01:00:00.000Z",
        repository="acme/" + "r" * 10_000,
        reason="&" * 100_000,
    )
    built = message(run, Alert(kind="failed", failures=1), None, Where("eu-west-2"))
    _check(built)
    assert "&amp;" in texts(built) and not re.search(r"&a?m?p?…", texts(built))


def test_bound_text_marks_truncation_and_keeps_short_text() -> None:
    assert bound_text("short") == "short"
    assert bound_text(None) is None
    cut = bound_text("é" * 100_000)
    assert cut is not None and cut.endswith("[truncated]")
    assert len(cut.encode("utf-8")) <= 2048


def test_bounded_key_is_short_readable_and_unique() -> None:
    assert bounded_key("nightly") == "nightly"
    a, b = bounded_key("r" * 3000 + "a"), bounded_key("r" * 3000 + "b")
    assert a != b and a.startswith("rrrr") and len(a.encode()) <= 100 and len(b) <= 100


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run=runs(),
    kind=st.sampled_from(["failed", "still_failing", "stuck", "paused", "recovered"]),
    failures=st.integers(0, 10**6),
    paused=st.booleans(),
    later_run=nasty_text(300),
)
def test_app_mode_messages_buttons_and_edits_are_within_limits(
    run: Run, kind: str, failures: int, paused: bool, later_run: str
) -> None:
    """Slack app mode: a failure alert with its buttons, a thread reply, the first message
    edited on recovery."""
    built = message(run, Alert(kind=kind, failures=failures), None, Where("eu-west-2"))
    first = with_buttons(built, run.job, paused=paused)
    _check(first)
    [actions] = [block for block in first["blocks"] if block["type"] == "actions"]
    assert [button["action_id"] for button in actions["elements"]] == [
        "rerun",
        "resume" if paused else "pause",
        "ack",
    ]
    _check(recovered_first(first, f"recovered 02:14 by {later_run}"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run=runs(),
    names=st.lists(nasty_text(300), min_size=1, max_size=12),
    action=st.sampled_from(["rerun", "pause", "resume", "ack"]),
)
def test_a_message_after_any_number_of_button_presses_is_within_limits(
    run: Run, names: list[str], action: str
) -> None:
    """Each press adds a "who did what" line (user names from Slack, escaped); however many
    there are, the message stays within the limits and pings nobody."""
    shown: dict[str, Any] = with_buttons(
        message(run, Alert(kind="failed", failures=1), None, Where("eu-west-2")),
        run.job,
        paused=False,
    )
    for name in names:
        press = Interaction(
            action, run.job, "U1", name, "t#a", "https://hooks.slack.com/x", None, None, shown
        )
        shown = updated(press, f"{action} by @{name}")
        _check(shown)
