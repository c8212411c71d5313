"""The job catalogue: every error names the job and the field (and the line)."""

from __future__ import annotations

import textwrap

import pytest

from batchcron.catalogue.errors import CatalogueError, UnknownJobError
from batchcron.catalogue.loading import load_catalogue, parse_catalogue


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_catalogue(textwrap.dedent(text))


def errors(text: str) -> list[tuple[str | None, str | None, int | None]]:
    with pytest.raises(CatalogueError) as caught:
        parse(text)
    return [(p.job, p.field, p.line) for p in caught.value.problems]


def test_the_default_catalogue_is_the_original_systems_jobs() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.jobs) == {
        "historic-england",
        "site-of-special-scientific-interest",
        "parish",
        "ancient-woodland",
        "local-authority-district",
        "green-belt",
        "conservation-area",
        "entity-builder",
        "digital-land-builder",
        "tiles-builder",
    }
    assert catalogue.get("conservation-area").schedule == "0 1 * * *"
    assert catalogue.get("green-belt").schedule == "0 0 * * 0"
    assert catalogue.get("parish").repository == "digital-land/parish-collection"
    for name in ("entity-builder", "digital-land-builder", "tiles-builder"):
        job = catalogue.get(name)
        assert job.script == "builder"
        assert job.on_push is not None and job.on_push.branches == ("main",)


def test_defaults_apply_and_jobs_override_them() -> None:
    catalogue = parse(
        """
        defaults:
          timezone: Europe/London
          environment: {ENVIRONMENT: production}
        jobs:
          one:
            repository: acme/one
            schedule: "@daily"
            environment: {REBUILD: true}
          two:
            repository: acme/two
            timezone: UTC
        """
    )
    one, two = catalogue.get("one"), catalogue.get("two")
    assert one.timezone == "Europe/London" and two.timezone == "UTC"
    assert one.environment == {"ENVIRONMENT": "production", "REBUILD": "true"}
    assert one.schedule == "0 0 * * *"
    assert (one.timeout_minutes, one.attempts, one.concurrency, one.script) == (
        720,
        1,
        "forbid",
        "pipeline",
    )
    assert one.notify.still_failing_every == 5 and one.notify.recovered


@pytest.mark.parametrize(
    ("body", "field", "line"),
    [
        ("repository: nope", "repository", 3),
        ("repository: a/b\n    schedule: '61 * * * *'", "schedule", 4),
        ("repository: a/b\n    timezone: Mars/Olympus", "timezone", 4),
        ("repository: a/b\n    script: http://x.example/run.sh", "script", 4),
        ("repository: a/b\n    script: https://x.example/run.sh", "script_sha256", 2),
        ("repository: a/b\n    script_sha256: " + "a" * 64, "script_sha256", 4),
        ("repository: a/b\n    vcpus: 3", "vcpus", 4),
        ("repository: a/b\n    memory_mib: 1000", "memory_mib", 4),
        ("repository: a/b\n    timeout_minutes: 0", "timeout_minutes", 4),
        ("repository: a/b\n    attempts: 11", "attempts", 4),
        ("repository: a/b\n    concurrency: sometimes", "concurrency", 4),
        ("repository: a/b\n    starting_deadline_minutes: 0", "starting_deadline_minutes", 4),
        ("repository: a/b\n    colour: blue", "colour", 4),
        ("repository: a/b\n    environment: {GITHUB_TOKEN: x}", "environment", 4),
        ("repository: a/b\n    environment: {DB_PASSWORD: x}", "environment", 4),
        ("repository: a/b\n    environment: {'1BAD': x}", "environment", 4),
        ("repository: a/b\n    on_push: {branchs: [main]}", "on_push.branchs", 4),
        ("repository: a/b\n    on_push: {paths: [a], paths_ignore: [b]}", "on_push", 4),
        ("repository: a/b\n    notify: {still_failing_every: -1}", "notify.still_failing_every", 4),
        ("repository: a/b\n    notify: {loud: true}", "notify.loud", 4),
    ],
)
def test_each_error_names_job_field_and_line(body: str, field: str, line: int) -> None:
    text = f"jobs:\n  my-job:\n    {body}\n"
    assert errors(text) == [("my-job", field, line)]


def test_all_errors_are_reported_at_once() -> None:
    found = errors(
        """
        jobs:
          a1:
            repository: nope
          b2:
            repository: a/b
            schedule: "bad"
        """
    )
    assert [(job, field) for job, field, _ in found] == [("a1", "repository"), ("b2", "schedule")]


def test_missing_repository_and_bad_names() -> None:
    found = errors(
        """
        jobs:
          Bad_Name:
            repository: a/b
          ok-job:
            schedule: "@daily"
        """
    )
    assert ("Bad_Name", "name") in [(j, f) for j, f, _ in found]
    assert ("ok-job", "repository") in [(j, f) for j, f, _ in found]


def test_unknown_top_level_key_and_empty_jobs() -> None:
    found = errors("jobz: {}\n")
    assert (None, "jobz", 1) in found
    assert any(field == "jobs" for _, field, _ in found)


def test_invalid_yaml_gives_the_line() -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue("jobs:\n  a: [\n")
    assert caught.value.problems[0].line is not None
    assert "not valid YAML" in str(caught.value)


def test_error_message_is_readable() -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue("jobs:\n  parish:\n    repository: a/b\n    schedule: '0 0 * *'\n")
    assert "line 4: job 'parish', field 'schedule': invalid cron expression" in str(caught.value)


def test_fargate_combinations() -> None:
    ok = parse("jobs:\n  big:\n    repository: a/b\n    vcpus: 16\n    memory_mib: 122880\n")
    assert ok.get("big").memory_mib == 122880
    assert errors("jobs:\n  x1:\n    repository: a/b\n    vcpus: 0.25\n    memory_mib: 4096\n")


def test_url_script_with_hash_is_accepted() -> None:
    catalogue = parse(
        f"""
        jobs:
          remote:
            repository: acme/remote
            script: https://example.org/run.sh
            script_sha256: {"ab" * 32}
        """
    )
    assert catalogue.get("remote").batch_file_url == "https://example.org/run.sh"


def test_unknown_job_suggests_close_names() -> None:
    with pytest.raises(UnknownJobError) as caught:
        load_catalogue().get("parsh")
    assert "parish" in str(caught.value)


def test_jobs_file_env_overrides_the_path(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs:\n  solo:\n    repository: a/solo\n")
    monkeypatch.setenv("JOBS_FILE", str(path))
    assert list(load_catalogue().jobs) == ["solo"]


# --- duplicate keys, error wording and order, size limits ---------------------------------------


def messages(text: str) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        parse(text)
    return [str(problem) for problem in caught.value.problems]


def test_a_job_defined_twice_is_an_error_naming_both_lines() -> None:
    found = messages(
        """
        jobs:
          parish:
            repository: a/first
          other:
            repository: a/other
          parish:
            repository: a/second
        """
    )
    assert found == ["line 7: job 'parish': defined twice (lines 3 and 7)"]


def test_any_duplicate_key_is_an_error() -> None:
    found = messages(
        """
        defaults:
          timezone: UTC
          timezone: Europe/London
        jobs:
          parish:
            repository: a/b
            schedule: "@daily"
            schedule: "@hourly"
        """
    )
    assert found == [
        "line 4: catalogue, field 'defaults.timezone': given twice (lines 3 and 4)",
        "line 9: job 'parish', field 'schedule': given twice (lines 8 and 9)",
    ]


def test_every_error_in_line_order_one_line_each() -> None:
    found = messages(
        """
        jobs:
          zz-last:
            repository: a/b
            environment:
              API_TOKEN: x
              PLAIN: ok
              DB_PASSWORD: y
              AWS_SECRET: z
          aa-first:
            repository: nope
        """
    )
    assert [line.split(":", 1)[0] for line in found] == [
        "line 6",
        "line 8",
        "line 9",
        "line 11",
    ]
    assert all("\n" not in line for line in found)
    assert "API_TOKEN looks like a secret" in found[0]
    assert "AWS_SECRET looks like a secret" in found[2]


def test_an_unclosed_quote_is_reported_where_it_opens() -> None:
    found = messages(
        """\
        jobs:
          parish:
            repository: a/b
            schedule: "0 0 * * *
          other:
            repository: a/c
            script: pipeline
        """
    )
    assert found == [
        "line 4: catalogue: not valid YAML: a quoted value is not closed (a missing ' or \")"
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("on_push:\n      branches: main", "on_push.branches': expected a list of branch globs"),
        ("attempts: many", "attempts': expected a whole number"),
        ("enabled: maybe", "enabled': expected true or false"),
        ("timeout_minutes: 0", "timeout_minutes': must be at least 1"),
        ("environment: [A]", "environment': expected a mapping of NAME: value"),
        ("concurrency: never", "concurrency': expected 'forbid', 'allow', 'replace' or 'queue'"),
    ],
)
def test_errors_are_in_the_catalogues_words(body: str, message: str) -> None:
    [found] = messages(f"jobs:\n  my-job:\n    repository: a/b\n    {body}\n")
    assert found.endswith(message), found
    assert "Input should be" not in found


def test_a_catalogue_over_the_job_limit_is_refused_with_one_error() -> None:
    from batchcron.catalogue.loading import MAX_JOBS

    body = "".join(f"  job-{i}:\n    repository: a/b\n" for i in range(MAX_JOBS + 1))
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue("jobs:\n" + body)
    [problem] = caught.value.problems
    assert (
        str(problem)
        == f"line 1: catalogue, field 'jobs': {MAX_JOBS + 1:,} jobs; the limit is {MAX_JOBS:,}"
    )


def test_a_catalogue_over_the_byte_limit_is_refused_before_parsing() -> None:
    from batchcron.catalogue.loading import MAX_BYTES

    text = "jobs:\n  a:\n    repository: a/b\n" + "#" * MAX_BYTES
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text)
    [problem] = caught.value.problems
    assert f"the limit is {MAX_BYTES:,}" in str(problem)


def test_every_error_once_none_caused_by_another_cross_field_checks_included() -> None:
    text = textwrap.dedent(
        """
        jobs:
          conservation-area:
            repository: digital-land/conservation-area-collection
            schedule: "0 25 * * *"
            memory_mib: 1000
          entity-builder:
            repository: digital-land/entity-builder
            after:
              jobs: [conservation-area]
            schedual: "0 1 * * *"
            vcpus: 2
            memory_mib: 2048
          other:
            repository: digital-land/x
            script: https://example.com/x.sh
            script_sha256: nothex
            vcpus: 3
        """
    )
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text)
    found = [str(problem) for problem in caught.value.problems]
    assert found == [
        "line 5: job 'conservation-area', field 'schedule': invalid cron expression "
        "'0 25 * * *': Bad hour",
        "line 6: job 'conservation-area', field 'memory_mib': 1000 MiB is not a Fargate size "
        "for 1 vCPU (2048-8192 in steps of 1024)",
        "line 11: job 'entity-builder', field 'schedual': unknown field (did you mean schedule?)",
        "line 13: job 'entity-builder', field 'memory_mib': 2048 MiB is not a Fargate size for "
        "2 vCPU (4096-16384 in steps of 1024)",
        "line 17: job 'other', field 'script_sha256': expected 64 lower-case hex digits "
        "(sha256 of the script)",
        "line 18: job 'other', field 'vcpus': Fargate supports 0.25, 0.5, 1, 2, 4, 8, 16 vCPUs",
    ]


def test_a_misspelt_nested_field_gets_a_suggestion_from_its_own_record() -> None:
    text = "jobs:\n  aa:\n    repository: acme/a\n    on_push:\n      brnches: [main]\n"
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text)
    (problem,) = caught.value.problems
    assert problem.field == "on_push.brnches"
    assert problem.message == "unknown field (did you mean branches?)"
