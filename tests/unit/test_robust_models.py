"""Every model fed arbitrary JSON (and the catalogue arbitrary YAML values): only its own
validation error comes out, never OverflowError, OSError, RecursionError or a TypeError."""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchcron.catalogue.errors import CatalogueError
from batchcron.catalogue.loading import parse_catalogue
from batchcron.outcomes.events import BadJobStateEventError, parse_event
from batchcron.pushes.payload import parse_body, parse_ping, parse_push
from batchcron.pushes.signature import BadPayloadError
from tests.conftest import load_event

NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=10**18, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e20, 1e308, -1e308, math.inf, -math.inf, math.nan, 2**63, -(2**63)]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value a fuzzed value may be put."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found.extend(paths(item, (*prefix, index)))
    return found


def replaced(document: Any, where: tuple[Any, ...], value: Any) -> Any:
    if not where:
        return value
    copied = json.loads(json.dumps(document))
    target = copied
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    return copied


PUSH = json.loads(load_event("github_push.json")["body"])


BATCH_EVENT = load_event("batch_job_failed.json")
PUSH_PATHS = paths(PUSH)
BATCH_PATHS = paths(BATCH_EVENT)
FUZZ = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(PUSH_PATHS), JSON)
def test_a_push_with_any_value_anywhere_is_a_push_or_a_bad_payload(
    where: tuple[Any, ...], value: Any
) -> None:
    try:
        push = parse_push(replaced(PUSH, where, value))
    except BadPayloadError:
        return
    push.bad_url(("github.com",))
    push.changed_files()


@FUZZ
@given(JSON)
def test_any_json_is_a_ping_or_a_bad_payload(value: Any) -> None:
    with contextlib.suppress(BadPayloadError):
        parse_ping(value if isinstance(value, dict) else {"hook_id": value, "zen": value})


@FUZZ
@given(st.sampled_from(BATCH_PATHS), JSON)
def test_a_batch_event_with_any_value_anywhere_is_an_event_or_its_error(
    where: tuple[Any, ...], value: Any
) -> None:
    from batchcron.outcomes.events import interpret

    try:
        event = parse_event(replaced(BATCH_EVENT, where, value))
    except BadJobStateEventError:
        return
    interpret(event, None)


@FUZZ
@given(JSON)
def test_any_json_body_is_an_object_or_a_bad_payload(value: Any) -> None:
    body = json.dumps(value).encode()
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        with contextlib.suppress(BadPayloadError):
            parse_body(body, content_type)


JOB_FIELDS = [
    "schedule",
    "attempts",
    "timeout_minutes",
    "vcpus",
    "memory_mib",
    "on_push",
    "notify",
    "after",
    "deadline",
    "enabled",
    "concurrency",
    "repository",
    "script",
]


@FUZZ
@given(st.sampled_from(JOB_FIELDS), JSON)
def test_a_catalogue_with_any_value_in_a_job_is_a_catalogue_or_its_error(
    name: str, value: Any
) -> None:
    job: dict[str, Any] = {"repository": "digital-land/entity-builder", "script": "builder"}
    job[name] = value
    text = yaml.safe_dump({"jobs": {"entity-builder": job}}, allow_unicode=True)
    with contextlib.suppress(CatalogueError):
        parse_catalogue(text)


@pytest.mark.parametrize(
    "text",
    [
        "jobs:\n  a:\n    repository: o/a\n    script: builder\n    attempts: .inf\n",
        "jobs:\n  a:\n    repository: o/a\n    script: builder\n    attempts: .nan\n",
        "jobs:\n  a:\n    repository: o/a\n    script: builder\n    timeout_minutes: 1e400\n",
        "jobs:\n  a:\n    repository: o/a\n    script: builder\n    vcpus: -.inf\n",
        "jobs: " + "[" * 5000 + "]" * 5000 + "\n",
    ],
)
def test_impossible_numbers_and_deep_nesting_in_the_catalogue_are_its_errors(text: str) -> None:
    with pytest.raises(CatalogueError):
        parse_catalogue(text)


def test_a_ping_with_a_number_too_big_for_a_float_is_a_bad_payload() -> None:
    with pytest.raises(BadPayloadError, match="hook_id"):
        parse_ping(parse_body(b'{"hook_id": 1e400}', "application/json"))


def test_a_head_commit_timestamp_of_1e20_is_a_bad_payload() -> None:
    payload = json.loads(json.dumps(PUSH))
    payload["head_commit"]["timestamp"] = 1e20
    with pytest.raises(BadPayloadError, match="timestamp"):
        parse_push(payload)
