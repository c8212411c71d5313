"""Push matching, pure: which jobs a push starts, following GitHub Actions' `on.push` filter
semantics (branches, tags, paths), skip markers, deletions and stale pushes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from batchcron.pushes.payload import PushEvent

if TYPE_CHECKING:  # the catalogue (yaml, cron) is not needed to verify a request
    from batchcron.catalogue.model import Job, OnPush

SKIP_MARKERS = ("[skip ci]", "[batchcron skip]")
# GitHub keeps deliveries for redelivery this long; an older push is a replay, not news.
MAX_PUSH_AGE = timedelta(hours=72)
# Clocks differ a little; a push from further ahead is a forged or replayable body.
MAX_PUSH_AHEAD = timedelta(minutes=5)


# --- GitHub filter patterns ------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    """A GitHub filter pattern as a regex: `*` any run of characters but `/`, `**` any run
    including `/` (`**/` also matches no directory), `?`/`+` zero-or-one/one-or-more of the
    preceding character, `[...]` a class, `\\` escapes."""
    out: list[str] = []
    atom = False  # can `?`/`+` apply to what was just emitted?
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i) and (not out or out[-1].endswith("/")):
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
                i += 1
            atom = False
            continue
        if char in "?+" and atom:
            out.append(char)
            atom = False
            i += 1
            continue
        if char == "[":
            end = pattern.find("]", i + 2)
            if end != -1:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
                out.append(f"[{'^' if negate else ''}{escaped}]")
                atom = True
                i = end + 1
                continue
        if char == "\\" and i + 1 < n:
            i += 1
            char = pattern[i]
        out.append(re.escape(char))
        atom = True
        i += 1
    return re.compile("".join(out), re.DOTALL)


def glob_match(pattern: str, text: str) -> bool:
    """Does `text` match one GitHub filter `pattern` (no `!` handling)?"""
    return _compile(pattern).fullmatch(text) is not None


def filter_match(patterns: Sequence[str], text: str) -> bool:
    """GitHub list semantics: `text` is in when the last pattern that matches it is positive
    (`!pattern` excludes what earlier patterns included; a later positive re-includes)."""
    included = False
    for pattern in patterns:
        negative = pattern.startswith("!")
        body = pattern[1:] if negative else pattern
        if glob_match(body, text):
            included = not negative
    return included


# --- push matching -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """Whether a push triggers a job, and why not when it does not."""

    matched: bool
    reason: str | None = None


def ref_matches(on_push: OnPush, ref: str) -> bool:
    """Branch patterns match the branch name of `refs/heads/...`; patterns that start with
    `refs/` match the full ref (so only `refs/tags/...` patterns match tag pushes)."""
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    included = False
    for pattern in on_push.branches:
        negative = pattern.startswith("!")
        body = pattern[1:] if negative else pattern
        if body.startswith("refs/"):
            hit = glob_match(body, ref)
        else:
            hit = branch is not None and glob_match(body, branch)
        if hit:
            included = not negative
    return included


def paths_match(on_push: OnPush, files: Sequence[str] | None) -> bool:
    """`paths`: run when any changed file is included. `paths_ignore`: run unless every changed
    file is ignored. Unknown file lists (no commits) always match."""
    if files is None:
        return True
    if on_push.paths:
        return any(filter_match(on_push.paths, path) for path in files)
    if on_push.paths_ignore:
        return not files or not all(filter_match(on_push.paths_ignore, path) for path in files)
    return True


def skip_marker(message: str | None) -> str | None:
    """The skip marker in a commit message, if any (case-insensitive)."""
    lowered = (message or "").lower()
    for marker in SKIP_MARKERS:
        if marker in lowered:
            return marker
    return None


def is_deleted(push: PushEvent) -> bool:
    return push.deleted or push.after.strip("0") == ""


def pushed_at(push: PushEvent) -> tuple[datetime | None, str]:
    """When the push happened and what says so: `repository.pushed_at` (the push's own time,
    signed with the body), else the head commit's date for a payload without it."""
    if push.repository.pushed_at is not None:
        return push.repository.pushed_at, "pushed_at"
    commit = push.head_commit
    if commit is not None and commit.timestamp is not None:
        return commit.timestamp, f"head commit {commit.id or push.after}"
    return None, ""


def stale_reason(
    push: PushEvent,
    now: datetime,
    max_age: timedelta = MAX_PUSH_AGE,
    max_ahead: timedelta = MAX_PUSH_AHEAD,
) -> str | None:
    """Why a push is too old (or too far in the future) to start runs, or None. The push's own
    time is judged, not its commit's: a fast-forward of an old commit is news; a captured
    delivery replayed after its delivery records expired is not."""
    stamp, source = pushed_at(push)
    if stamp is None:
        return "the push has neither repository.pushed_at nor a head commit timestamp"
    if stamp.tzinfo is None:
        return f"{source} has no time zone"
    age = now - stamp
    if age > max_age:
        hours = int(max_age.total_seconds() // 3600)
        return (
            f"{source} is {stamp.isoformat()}, older than {hours} hours "
            "(GitHub's redelivery window): a replayed delivery starts nothing"
        )
    if -age > max_ahead:
        minutes = int(max_ahead.total_seconds() // 60)
        return f"{source} is {stamp.isoformat()}, more than {minutes} minutes in the future"
    return None


def match_push(job: Job, push: PushEvent) -> Match:
    """Does `push` trigger `job`? (Repository and enabled are checked by the caller.)"""
    on_push = job.on_push
    if on_push is None:
        return Match(False, "job has no on_push")
    if is_deleted(push):
        return Match(False, f"{push.ref} was deleted")
    if not ref_matches(on_push, push.ref):
        if push.ref.startswith("refs/tags/"):
            return Match(False, f"tag push {push.ref} (list refs/tags/... patterns to run on tags)")
        return Match(False, f"{push.ref} does not match branches {list(on_push.branches)}")
    marker = skip_marker(push.head_commit.message if push.head_commit else None)
    if marker:
        return Match(False, f"{marker} in the head commit message")
    if not paths_match(on_push, push.changed_files()):
        if on_push.paths:
            return Match(False, "no changed file matches paths")
        return Match(False, "every changed file is in paths_ignore")
    return Match(True)


def same_repository(job: Job, full_name: str) -> bool:
    return job.repository.lower() == full_name.lower()
