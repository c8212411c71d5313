"""Slack interaction parsing: Slack's documented block_actions shape parses; anything else,
whatever its shape, is BadPayloadError (the webhook's 400), never another exception."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchcron.pushes.interaction import Interaction, parse
from batchcron.pushes.signature import BadPayloadError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "slack_block_actions.json"


def documented() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    document.pop("_source")
    return document


def form(document: Any) -> bytes:
    return urlencode({"payload": json.dumps(document)}).encode()


def test_the_documented_shape_parses() -> None:
    press = parse(form(documented()))

    assert press.action == "rerun" and press.job == "entity-builder"
    assert (press.user_id, press.user_name) == ("U0CA5", "ada")
    assert press.channel == "C0ALERTS" and press.message_ts == "1764633600.000001"
    assert press.key == (
        "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3#1764670500.123456"
    )
    assert press.message["blocks"][0]["type"] == "header"


@pytest.mark.parametrize(
    "path, value",
    [
        (("actions", 0, "action_id"), ["rerun"]),
        (("actions", 0, "action_id"), "delete_everything"),
        (("actions", 0, "value"), {"job": "x"}),
        (("actions", 0, "value"), ""),
        (("user",), "U0CA5"),
        (("user", "id"), 5),
        (("type",), "view_submission"),
        (("actions",), {}),
        (("actions",), []),
        (("response_url",), "file:///etc/passwd"),
        (("response_url",), None),
        (("trigger_id",), None),
    ],
)
def test_a_wrong_shape_is_bad_payload(path: tuple[Any, ...], value: Any) -> None:
    document = documented()
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    if path == ("trigger_id",):
        document["actions"][0].pop("action_ts")

    with pytest.raises(BadPayloadError):
        parse(form(document))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = ["type", "user", "actions", "trigger_id", "response_url", "channel", "container", "message"]


def mutated(document: dict[str, Any], draw: Any) -> dict[str, Any]:
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=4)):
        document[key] = draw(JSON)
    if draw(st.booleans()) and isinstance(document.get("actions"), list) and document["actions"]:
        action = document["actions"][0]
        if isinstance(action, dict):
            for key in draw(st.lists(st.sampled_from(["action_id", "value", "action_ts"]))):
                action[key] = draw(JSON)
    return document


@given(st.data())
def test_any_mutation_of_the_documented_shape_parses_or_is_bad_payload(data: Any) -> None:
    document = mutated(documented(), data.draw)
    try:
        press = parse(form(document))
    except BadPayloadError:
        return
    assert isinstance(press, Interaction)
    assert press.action in ("rerun", "pause", "resume", "ack")
    assert press.job and press.user_id and press.response_url.startswith(("https://", "http://"))


@given(st.binary(max_size=300) | JSON.map(form) | JSON.map(lambda v: json.dumps(v).encode()))
def test_any_body_parses_or_is_bad_payload(body: bytes) -> None:
    with contextlib.suppress(BadPayloadError):
        parse(body)
