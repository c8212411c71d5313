"""GitHub webhook logic without AWS: signatures, payload models, filter patterns, push matching."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchcron.catalogue.model import Job, OnPush
from batchcron.pushes.matching import (
    MAX_PUSH_AGE,
    filter_match,
    glob_match,
    match_push,
    ref_matches,
    stale_reason,
)
from batchcron.pushes.payload import (
    PushEvent,
    github_hosts,
    parse_body,
    parse_json,
    parse_ping,
    parse_push,
    url_on_hosts,
)
from batchcron.pushes.signature import (
    MAX_BODY_BYTES,
    BadPayloadError,
    MalformedSignatureError,
    PayloadTooLargeError,
    SignatureError,
    header_id,
    raw_body,
    sign,
    verify,
)
from tests.conftest import load_event

SECRET = "local-webhook-secret"


def sample_push() -> dict[str, Any]:
    """The push in events/github_push.json, as GitHub sent it."""
    payload: dict[str, Any] = json.loads(load_event("github_push.json")["body"])
    return payload


def push(**changes: Any) -> PushEvent:
    payload = sample_push()
    payload.update(changes)
    return parse_push(payload)


def with_files(*commits: list[str], message: str = "Update") -> PushEvent:
    """A push whose commits each modified the given files."""
    payload = sample_push()
    template = payload["commits"][0]
    payload["commits"] = [
        {**template, "added": [], "removed": [], "modified": files} for files in commits
    ]
    payload["head_commit"] = {**payload["commits"][-1], "message": message}
    return parse_push(payload)


def job(**on_push: Any) -> Job:
    return Job(
        name="entity-builder",
        repository="digital-land/entity-builder",
        script="builder",
        on_push=OnPush(**on_push),
    )


# --- signatures ------------------------------------------------------------------------------


def test_a_valid_signature_verifies() -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    verify([SECRET], body, sign(SECRET, body))


def test_the_sample_events_are_signed_with_the_local_secret() -> None:
    for name in ("github_push.json", "github_ping.json"):
        event = load_event(name)
        verify([SECRET], event["body"].encode(), event["headers"]["x-hub-signature-256"])


def test_a_signature_made_with_another_secret_is_refused() -> None:
    body = b"{}"
    with pytest.raises(SignatureError):
        verify([SECRET], body, sign("not-the-secret", body))


def test_a_tampered_body_is_refused() -> None:
    body = b'{"ref": "refs/heads/main"}'
    with pytest.raises(SignatureError):
        verify([SECRET], b'{"ref": "refs/heads/evil"}', sign(SECRET, body))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha1=" + "0" * 40,
        "sha512=" + "0" * 128,
        "SHA256=" + "0" * 64,
        "sha256=",
        "sha256=" + "g" * 64,
        "sha256=" + "0" * 63,
        "0" * 64,
    ],
)
def test_a_missing_or_malformed_signature_is_refused_without_reading_the_secret(
    header: str | None,
) -> None:
    def secrets() -> Iterator[str]:
        raise AssertionError("the secret must not be read for a malformed signature")
        yield SECRET

    with pytest.raises(MalformedSignatureError):
        verify(secrets(), b"{}", header)


def test_a_rotated_secret_is_tried_only_after_the_cached_one_fails() -> None:
    body = b"{}"
    tried: list[str] = []

    def secrets() -> Iterator[str]:
        for secret in ("old-secret", "new-secret"):
            tried.append(secret)
            yield secret

    verify(secrets(), body, sign("new-secret", body))
    assert tried == ["old-secret", "new-secret"]

    tried.clear()
    verify(secrets(), body, sign("old-secret", body))
    assert tried == ["old-secret"]


def test_an_empty_secret_never_verifies() -> None:
    with pytest.raises(SignatureError):
        verify([""], b"{}", sign("", b"{}"))


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=512), secret=st.text(min_size=1), other=st.text(min_size=1))
def test_only_the_right_secret_verifies(body: bytes, secret: str, other: str) -> None:
    verify([secret], body, sign(secret, body))
    if other != secret:
        with pytest.raises(SignatureError):
            verify([other], body, sign(secret, body))


# --- the raw body ------------------------------------------------------------------------------


def test_a_base64_body_is_decoded_before_verification() -> None:
    body = b'{"zen": "Design for failure."}'
    assert raw_body(base64.b64encode(body).decode(), True) == body


def test_a_body_marked_base64_that_is_not_base64_cannot_be_signed() -> None:
    with pytest.raises(SignatureError):
        raw_body("{not base64}", True)


def test_a_body_of_exactly_five_mib_is_accepted() -> None:
    assert len(raw_body("x" * MAX_BODY_BYTES, False)) == MAX_BODY_BYTES


@pytest.mark.parametrize("encoded", [False, True])
def test_a_body_over_five_mib_is_too_large(encoded: bool) -> None:
    data = b"x" * (MAX_BODY_BYTES + 1)
    text = base64.b64encode(data).decode() if encoded else data.decode()
    with pytest.raises(PayloadTooLargeError):
        raw_body(text, encoded)


def test_multibyte_characters_count_as_bytes() -> None:
    with pytest.raises(PayloadTooLargeError):
        raw_body("é" * (MAX_BODY_BYTES // 2 + 1), False)


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 100_000]
)
def test_a_body_that_is_not_a_json_object_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayloadError):
        parse_json(body)


def test_a_form_encoded_delivery_is_read_from_its_payload_field() -> None:
    body = b"payload=%7B%22zen%22%3A%22hi%22%7D"
    assert parse_body(body, "application/x-www-form-urlencoded") == {"zen": "hi"}
    assert parse_body(body, None) == {"zen": "hi"}


def test_a_json_delivery_is_read_as_json() -> None:
    assert parse_body(b'{"zen": "hi"}', "application/json; charset=utf-8") == {"zen": "hi"}


@pytest.mark.parametrize(
    "body", [b"", b"zen=hi", b"payload=1&payload=2", b"payload=%5B1%5D", b"payload=\xff", b"%%"]
)
def test_a_form_without_one_json_object_payload_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayloadError):
        parse_body(body, "application/x-www-form-urlencoded")


def test_the_push_model_tolerates_fields_github_adds() -> None:
    payload = sample_push()
    payload["a_field_from_the_future"] = {"nested": [1, 2, 3]}
    payload["head_commit"]["another_new_field"] = True
    event = parse_push(payload)
    assert event.repository.full_name == "digital-land/entity-builder"
    assert event.who == "octocat"
    assert event.changed_files() == ["config/tree-preservation-order.csv", "Makefile"]


@pytest.mark.parametrize("missing", ["ref", "after", "repository"])
def test_a_push_without_a_required_field_is_a_bad_payload(missing: str) -> None:
    payload = sample_push()
    del payload[missing]
    with pytest.raises(BadPayloadError, match=missing):
        parse_push(payload)


def test_a_push_with_a_wrongly_typed_field_is_a_bad_payload() -> None:
    payload = sample_push()
    payload["commits"] = "not a list"
    with pytest.raises(BadPayloadError, match="commits"):
        parse_push(payload)


def test_the_ping_model_reads_the_hook_id() -> None:
    payload = json.loads(load_event("github_ping.json")["body"])
    assert parse_ping(payload).hook_id == 512345678


@pytest.mark.parametrize("value", ["12ab-34cd", "512345678"])
def test_plain_ids_are_accepted_in_headers(value: str) -> None:
    assert header_id(value, "X-GitHub-Delivery", required=True) == value


@pytest.mark.parametrize("value", ["a#b", "x" * 101, "../etc", "id with space"])
def test_ids_that_could_not_come_from_github_are_refused(value: str) -> None:
    with pytest.raises(BadPayloadError):
        header_id(value, "X-GitHub-Delivery", required=True)


def test_a_required_id_header_must_be_present() -> None:
    with pytest.raises(BadPayloadError, match="X-GitHub-Delivery"):
        header_id(None, "X-GitHub-Delivery", required=True)
    assert header_id(None, "X-GitHub-Hook-ID", required=False) is None


# --- GitHub filter patterns ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*", "README.md", True),
        ("*", "docs/README.md", False),  # `*` does not cross `/`
        ("*.md", "README.md", True),
        ("*.md", "docs/README.md", False),
        ("**.md", "docs/deep/README.md", True),  # `**` does
        ("**", "any/path/at/all", True),
        ("docs/*", "docs/index.md", True),
        ("docs/*", "docs/api/index.md", False),
        ("docs/**", "docs/api/index.md", True),
        ("docs/**", "src/docs/index.md", False),
        ("**/docs/**", "docs/index.md", True),  # `**/` also matches no directory
        ("**/docs/**", "a/b/docs/x/y.md", True),
        ("**/README.md", "README.md", True),
        ("**/README.md", "src/README.md", True),
        ("src/**/test.py", "src/test.py", True),
        ("src/**/test.py", "src/a/b/test.py", True),
        ("config/*.csv", "config/tree-preservation-order.csv", True),
        ("*.jsx?", "page.js", True),  # `?`: zero or one of the preceding character
        ("*.jsx?", "page.jsx", True),
        ("*.jsx?", "page.jsxx", False),
        ("v1+", "v111", True),  # `+`: one or more of the preceding character
        ("v1+", "v", False),
        ("file[0-9].txt", "file7.txt", True),
        ("file[0-9].txt", "filex.txt", False),
        ("file[!0-9].txt", "filex.txt", True),
        ("a\\*b", "a*b", True),  # escaped
        ("a\\*b", "axb", False),
        ("Makefile", "Makefile", True),
        ("Makefile", "sub/Makefile", False),
        (".github/**", ".github/workflows/ci.yml", True),
        ("*", ".env", True),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_regex_characters_in_patterns_are_literal() -> None:
    assert glob_match("a.b(c)", "a.b(c)")
    assert not glob_match("a.b", "axb")


def test_a_later_negative_pattern_excludes_and_a_later_positive_re_includes() -> None:
    patterns = ["docs/**", "!docs/drafts/**", "docs/drafts/final.md"]
    assert filter_match(patterns, "docs/index.md")
    assert not filter_match(patterns, "docs/drafts/wip.md")
    assert filter_match(patterns, "docs/drafts/final.md")
    assert not filter_match(patterns, "src/main.py")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="abc.", min_size=1, max_size=5), min_size=2, max_size=4).map("/".join)
)
def test_a_single_star_never_crosses_a_directory(path: str) -> None:
    assert not glob_match("*", path)
    assert glob_match("**", path)


# --- branches and tags ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("branches", "ref", "expected"),
    [
        (["main"], "refs/heads/main", True),
        (["main"], "refs/heads/develop", False),
        (["main"], "refs/heads/feature/main", False),
        (["release/*"], "refs/heads/release/2025-03", True),
        (["release/*"], "refs/heads/release/2025/03", False),
        (["release/**"], "refs/heads/release/2025/03", True),
        (["main"], "refs/tags/main", False),  # a tag named like the branch is still a tag
        (["*"], "refs/tags/v1.0", False),  # tags need refs/tags/ patterns
        (["refs/tags/v*"], "refs/tags/v1.0", True),
        (["refs/tags/v*"], "refs/heads/v1", False),
        (["main", "refs/tags/**"], "refs/tags/release/1", True),
        (["refs/heads/main"], "refs/heads/main", True),
        (["**", "!wip/**"], "refs/heads/wip/try", False),
        (["**", "!wip/**"], "refs/heads/feature/x", True),
    ],
)
def test_branch_and_tag_patterns(branches: list[str], ref: str, expected: bool) -> None:
    assert ref_matches(OnPush(branches=tuple(branches)), ref) is expected


# --- push matching -------------------------------------------------------------------------


def test_a_push_to_main_matches_the_default_branches() -> None:
    assert match_push(job(), push()).matched


def test_a_push_to_another_branch_does_not_match() -> None:
    result = match_push(job(), push(ref="refs/heads/feature/new-dataset"))
    assert not result.matched
    assert "refs/heads/feature/new-dataset" in (result.reason or "")


def test_a_tag_push_does_not_match_branch_patterns() -> None:
    result = match_push(job(), push(ref="refs/tags/v1.2.0", base_ref="refs/heads/main"))
    assert not result.matched
    assert "tag" in (result.reason or "")


def test_a_tag_push_matches_a_refs_tags_pattern() -> None:
    assert match_push(job(branches=["main", "refs/tags/v*"]), push(ref="refs/tags/v1.2.0")).matched


def test_a_branch_deletion_never_matches() -> None:
    payload = sample_push()
    payload.update(deleted=True, after="0" * 40, commits=[], head_commit=None)
    result = match_push(job(branches=["**"]), parse_push(payload))
    assert not result.matched
    assert "deleted" in (result.reason or "")


def test_an_all_zero_after_sha_is_a_deletion_even_without_the_flag() -> None:
    assert not match_push(job(), push(after="0" * 40, commits=[], head_commit=None)).matched


def test_a_forced_push_without_commits_matches_even_with_path_filters() -> None:
    # A force-push back to an existing commit lists no commits: the files are unknown.
    forced = push(forced=True, commits=[])
    assert forced.changed_files() is None
    assert match_push(job(paths=["src/**"]), forced).matched
    assert match_push(job(paths_ignore=["**"]), forced).matched


def test_paths_match_when_any_changed_file_is_included() -> None:
    event = with_files(["README.md"], ["src/build.py"])
    assert match_push(job(paths=["src/**"]), event).matched


def test_paths_do_not_match_when_no_changed_file_is_included() -> None:
    result = match_push(job(paths=["src/**"]), with_files(["README.md"], ["docs/a.md"]))
    assert not result.matched
    assert result.reason == "no changed file matches paths"


def test_paths_see_added_and_removed_files_too() -> None:
    payload = sample_push()
    payload["commits"] = [
        {"id": "a", "added": [], "modified": [], "removed": ["src/old.py"], "message": "rm"}
    ]
    assert match_push(job(paths=["src/**"]), parse_push(payload)).matched


def test_paths_ignore_skips_when_every_changed_file_is_ignored() -> None:
    result = match_push(
        job(paths_ignore=["docs/**", "*.md"]), with_files(["README.md"], ["docs/a.md"])
    )
    assert not result.matched
    assert result.reason == "every changed file is in paths_ignore"


def test_paths_ignore_runs_when_one_changed_file_is_not_ignored() -> None:
    event = with_files(["README.md"], ["Makefile"])
    assert match_push(job(paths_ignore=["*.md"]), event).matched


@pytest.mark.parametrize(
    "message",
    [
        "Fix typo [skip ci]",
        "[batchcron skip] docs only",
        "Tidy\n\nbody text [SKIP CI]",
    ],
)
def test_a_skip_marker_in_the_head_commit_skips(message: str) -> None:
    result = match_push(job(), with_files(["Makefile"], message=message))
    assert not result.matched
    assert "in the head commit message" in (result.reason or "")


def test_a_skip_marker_only_in_an_earlier_commit_does_not_skip() -> None:
    payload = sample_push()
    first = copy.deepcopy(payload["commits"][0])
    first["message"] = "WIP [skip ci]"
    payload["commits"].insert(0, first)
    assert match_push(job(), parse_push(payload)).matched


def test_a_job_without_on_push_never_matches() -> None:
    plain = Job(name="parish", repository="digital-land/parish-collection")
    assert not match_push(plain, push()).matched


# --- replay guard: the head commit's age ------------------------------------------------------

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def with_head_time(stamp: str | None) -> PushEvent:
    """A push without `repository.pushed_at`: its age falls back to the head commit's time."""
    payload = sample_push()
    payload["repository"] = {**payload["repository"], "pushed_at": None}
    payload["head_commit"] = {**payload["head_commit"], "timestamp": stamp}
    return parse_push(payload)


def pushed(at: Any, head: str | None = "2010-01-01T00:00:00Z") -> PushEvent:
    payload = sample_push()
    payload["repository"] = {**payload["repository"], "pushed_at": at}
    payload["head_commit"] = {**payload["head_commit"], "timestamp": head}
    return parse_push(payload)


def test_a_push_of_an_old_commit_pushed_now_is_not_stale() -> None:
    # Given a fast-forward of a five-day-old commit, pushed a minute ago
    old_commit = (NOW - timedelta(days=5)).isoformat()
    recent = int((NOW - timedelta(minutes=1)).timestamp())
    # Then its age is the push's own
    assert stale_reason(pushed(recent, old_commit), NOW) is None


@pytest.mark.parametrize("form", ["epoch", "iso"])
def test_pushed_at_decides_the_age_as_epoch_seconds_or_iso_text(form: str) -> None:
    when = NOW - timedelta(hours=73)
    value: Any = int(when.timestamp()) if form == "epoch" else when.isoformat()
    reason = stale_reason(pushed(value, NOW.isoformat()), NOW)
    assert reason is not None and "pushed_at" in reason and "older than 72 hours" in reason


def test_a_push_from_more_than_five_minutes_ahead_is_refused() -> None:
    ahead = int((NOW + timedelta(minutes=5, seconds=1)).timestamp())
    reason = stale_reason(pushed(ahead), NOW)
    assert reason is not None and "in the future" in reason
    assert stale_reason(pushed(int((NOW + timedelta(minutes=5)).timestamp())), NOW) is None


@pytest.mark.parametrize(
    ("stamp", "stale"),
    [
        ("2026-11-30T11:59:00Z", False),
        ("2026-11-27T12:00:00Z", False),  # exactly 72 hours
        ("2026-11-27T11:59:59Z", True),
        ("2026-11-27T13:30:00+01:30", False),  # the same instant as 12:00Z, another zone
        ("2026-11-27T13:29:59+01:30", True),
        ("2010-06-01T12:00:00+02:00", True),
        ("2026-11-30T12:04:00Z", False),  # a clock a little ahead of ours
        ("2026-12-01T12:00:00Z", True),  # a day ahead: a body to replay later
    ],
)
def test_a_push_is_stale_when_its_head_commit_is_over_72_hours_old(stamp: str, stale: bool) -> None:
    reason = stale_reason(with_head_time(stamp), NOW)
    assert (reason is not None) is stale
    if stale:
        assert reason is not None and ("older than 72 hours" in reason or "future" in reason)


def test_a_push_without_a_head_commit_time_is_refused() -> None:
    assert "nor a head commit timestamp" in (stale_reason(with_head_time(None), NOW) or "")
    payload = sample_push()
    payload["head_commit"] = None
    payload["repository"]["pushed_at"] = None
    assert stale_reason(parse_push(payload), NOW) is not None


def test_a_head_commit_time_without_a_zone_is_refused() -> None:
    reason = stale_reason(with_head_time("2026-11-30T11:59:00"), NOW)
    assert reason is not None and "no time zone" in reason


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
def test_staleness_is_exactly_age_over_72_hours(age: timedelta) -> None:
    push = with_head_time((NOW - age).isoformat())
    assert (stale_reason(push, NOW) is not None) is (age > MAX_PUSH_AGE)


# --- `after` and `compare` ------------------------------------------------------------------


@pytest.mark.parametrize("after", ["a" * 40, "A" * 40, "0" * 40, "f" * 64])
def test_after_may_be_a_sha1_or_sha256_commit_id(after: str) -> None:
    assert parse_push(sample_push() | {"after": after}).after == after


@pytest.mark.parametrize(
    "after", ["release/$(id)", "main", "a" * 39, "a" * 41, "a" * 63, "a" * 65, "a" * 40 + "\n"]
)
def test_after_must_be_a_commit_id(after: str) -> None:
    with pytest.raises(BadPayloadError, match="40 or 64 hex"):
        parse_push(sample_push() | {"after": after})


@pytest.mark.parametrize(
    "compare",
    ["http://github.com/a/b/compare/x", "https://github.company.example/a", "<!channel>", ""],
)
def test_compare_must_be_a_github_url(compare: str) -> None:
    reason = parse_push(sample_push() | {"compare": compare}).bad_url(("github.com",))
    assert reason is not None and "https://github.com/" in reason


def test_a_github_enterprise_server_url_is_good_on_its_host() -> None:
    payload = sample_push()
    payload["compare"] = "https://ghe.example.org/org/repo/compare/a...b"
    payload["repository"]["html_url"] = "https://ghe.example.org/org/repo"
    push_event = parse_push(payload)
    assert push_event.bad_url(("github.com", "ghe.example.org")) is None
    assert "repository.html_url" not in (push_event.bad_url(("github.com",)) or "repository")


@pytest.mark.parametrize(
    "url", ["https://user@ghe.example.org/x", "https://ghe.example.org:8443/x", "https://[::1/"]
)
def test_urls_with_credentials_ports_or_bad_syntax_are_refused(url: str) -> None:
    assert not url_on_hosts(url, ("ghe.example.org",))


def test_github_hosts_default_to_github_com() -> None:
    assert github_hosts(None) == ("github.com",)
    assert github_hosts(" GHE.example.org , github.com,") == ("ghe.example.org", "github.com")
