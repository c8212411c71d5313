"""Catalogue `after:`: the field, and every error naming the job, the field and the line."""

from __future__ import annotations

import sys
import textwrap

import pytest

from batchcron.catalogue.errors import CatalogueError
from batchcron.catalogue.loading import MAX_JOBS, parse_catalogue

HEAD = """
jobs:
  aa:
    repository: acme/aa
  bb:
    repository: acme/b
"""


def parse(body: str):  # type: ignore[no-untyped-def]
    return parse_catalogue(HEAD + textwrap.indent(textwrap.dedent(body), "  "))


def problems(body: str) -> list[tuple[str | None, str | None, int | None, str]]:
    with pytest.raises(CatalogueError) as caught:
        parse(body)
    return [(p.job, p.field, p.line, p.message) for p in caught.value.problems]


def test_after_defaults_to_succeeded() -> None:
    catalogue = parse(
        """
          cc:
            repository: acme/c
            after:
              jobs: [aa, bb]
        """
    )
    after = catalogue.get("cc").after
    assert after is not None
    assert after.jobs == ("aa", "bb")
    assert after.when == "succeeded"
    assert catalogue.get("aa").after is None


def test_after_with_when_finished_and_a_schedule_fallback() -> None:
    catalogue = parse(
        """
          cc:
            repository: acme/c
            schedule: "0 7 * * *"
            after: {jobs: [aa], when: finished}
        """
    )
    job = catalogue.get("cc")
    assert job.after is not None and job.after.when == "finished"
    assert job.schedule == "0 7 * * *"


def test_unknown_upstream_names_job_field_line_and_suggests() -> None:
    found = problems(
        """
          cc:
            repository: acme/c
            after:
              jobs: [aa, bbb]
        """
    )
    assert len(found) == 1
    job, field, line, message = found[0]
    assert (job, field, line) == ("cc", "after.jobs", 11)
    assert "unknown job 'bbb'" in message
    assert "did you mean bb" in message


def test_job_after_itself() -> None:
    found = problems(
        """
          cc:
            repository: acme/c
            after: {jobs: [cc]}
        """
    )
    assert found == [("cc", "after.jobs", 10, "a job cannot run after itself")]


def test_cycle_names_every_job_on_it() -> None:
    found = problems(
        """
          cc:
            repository: acme/c
            after: {jobs: [dd]}
          dd:
            repository: acme/d
            after: {jobs: [aa, ee]}
          ee:
            repository: acme/e
            after:
              jobs: [cc]
        """
    )
    assert len(found) == 1
    job, field, line, message = found[0]
    assert (job, field, line) == ("cc", "after.jobs", 10)
    assert "dependency cycle: cc -> dd -> ee -> cc" in message


def test_two_separate_cycles_are_both_reported() -> None:
    found = problems(
        """
          cc:
            repository: acme/c
            after: {jobs: [dd]}
          dd:
            repository: acme/d
            after: {jobs: [cc]}
          ee:
            repository: acme/e
            after: {jobs: [ff]}
          ff:
            repository: acme/f
            after: {jobs: [ee]}
        """
    )
    messages = sorted(message for *_, message in found)
    assert len(messages) == 2
    assert "cc -> dd -> cc" in messages[0]
    assert "ee -> ff -> ee" in messages[1]


def test_a_long_chain_is_valid_and_does_not_exhaust_the_stack() -> None:
    # As long a chain as the catalogue's job limit allows (MAX_JOBS), deeper than the
    # interpreter's recursion limit would let a recursive walk go.
    length = MAX_JOBS - 3
    body = "".join(
        f"  j{i:04d}:\n    repository: acme/j{i}\n    after: {{jobs: [j{i - 1:04d}]}}\n"
        for i in range(1, length)
    )
    catalogue = parse_catalogue(HEAD + "  j0000:\n    repository: acme/j0\n" + body)
    assert len(catalogue.jobs) == length + 2 > sys.getrecursionlimit()


@pytest.mark.parametrize(
    ("after", "field", "needle"),
    [
        ("{jobs: []}", "after.jobs", "at least one upstream job"),
        ("{jobs: [aa, aa]}", "after.jobs", "more than once"),
        ("{jobs: [aa], when: always}", "after.when", "'succeeded' or 'finished'"),
        ("{when: finished}", "after.jobs", "required"),
        ("{jobs: [aa], depends_on: bb}", "after.depends_on", "unknown field"),
        ("[aa, bb]", "after", "expected a mapping"),
    ],
)
def test_bad_after_values(after: str, field: str, needle: str) -> None:
    found = problems(
        f"""
          cc:
            repository: acme/c
            after: {after}
        """
    )
    assert len(found) == 1
    job, got_field, line, message = found[0]
    assert (job, got_field, line) == ("cc", field, 10)
    assert needle in message


def test_every_after_error_is_reported_at_once() -> None:
    found = problems(
        """
          cc:
            repository: acme/c
            after: {jobs: [nope]}
          dd:
            repository: acme/d
            after: {jobs: [dd]}
        """
    )
    assert [(job, field) for job, field, *_ in found] == [
        ("cc", "after.jobs"),
        ("dd", "after.jobs"),
    ]
