"""The cost estimate: the formula, the price table's rows, and `defaults.prices`."""

from __future__ import annotations

import pytest

from batchcron.catalogue.loading import parse_catalogue
from batchcron.catalogue.model import Job
from batchcron.catalogue.prices import PriceSettings, Rate, lookup, table
from batchcron.models import Attempt, Run, Status
from batchcron.outcomes.cost import attempt_cost, cost_text, run_cost, running_spans

QUEUE = "arn:aws:batch:eu-west-2:123456789012:job-queue/JobQueue"


def builder() -> Job:
    return Job(
        name="entity-builder",
        repository="digital-land/entity-builder",
        script="builder",
        vcpus=2,
        memory_mib=8192,
    )


def finished(*spans: tuple[str, str], queue: str = QUEUE, **fields: object) -> Run:
    return Run.model_validate(
        {
            "job": "entity-builder",
            "run_id": "entity-builder-20261201T050000",
            "trigger": "upstream",
            "status": Status.SUCCEEDED,
            "created_at": "2026-12-01T05:00:00.000Z",
            "job_queue": queue,
            "attempts": [Attempt(started_at=a, stopped_at=b) for a, b in spans],
            **fields,
        }
    )


def test_two_vcpu_eight_gib_for_thirty_minutes_on_fargate_in_london() -> None:
    # Given the table's Fargate eu-west-2 x86_64 row: $0.04656 per vCPU-hour, $0.00511 per
    # GB-hour; a run of 2 vCPU / 8 GiB (8192 MiB = 8 GB) for 30 minutes (1800 s).
    run = finished(("2026-12-01T05:10:00.000Z", "2026-12-01T05:40:00.000Z"))

    cost = run_cost(run, builder(), region="us-east-1")

    # Then: 1800 × (2 × 0.04656 + 8 × 0.00511) / 3600 = 0.5 × (0.09312 + 0.04088) = $0.067
    assert cost is not None
    assert cost.rate.vcpu_hour == 0.04656 and cost.rate.gb_hour == 0.00511
    assert cost.usd == pytest.approx(0.067, abs=1e-9)
    assert cost_text(cost.usd) == "$0.067"
    assert (cost.seconds, cost.vcpus, cost.memory_gb) == (1800, 2, 8)


def test_failed_and_retried_attempts_count() -> None:
    run = finished(
        ("2026-12-01T05:00:00.000Z", "2026-12-01T05:15:00.000Z"),
        ("2026-12-01T05:20:00.000Z", "2026-12-01T05:35:00.000Z"),
        status=Status.FAILED,
    )

    cost = run_cost(run, builder(), region="eu-west-2")

    assert cost is not None and cost.attempts == 2
    assert cost.usd == pytest.approx(0.067)


def test_size_from_the_run_s_events_before_the_catalogue() -> None:
    run = finished(
        ("2026-12-01T05:00:00.000Z", "2026-12-01T06:00:00.000Z"), vcpus=1, memory_mib=2048
    )

    cost = run_cost(run, builder(), region="eu-west-2")

    assert cost is not None
    assert cost.usd == pytest.approx(0.04656 + 2 * 0.00511)


def test_unknown_size_or_region_or_no_running_time_has_no_cost() -> None:
    spans = ("2026-12-01T05:00:00.000Z", "2026-12-01T06:00:00.000Z")
    assert run_cost(finished(spans), None, region="eu-west-2") is None
    far = "arn:aws:batch:ap-south-2:1:job-queue/q"
    assert run_cost(finished(spans, queue=far), builder(), region="eu-west-2") is None
    assert run_cost(finished(), builder(), region="eu-west-2") is None


def test_a_running_run_costs_so_far_only_when_asked() -> None:
    from batchcron.models import parse_time

    run = finished(status=Status.RUNNING, started_at="2026-12-01T05:00:00.000Z")
    now = parse_time("2026-12-01T05:30:00Z")

    assert running_spans(run) == []
    assert running_spans(run, now) == [1800.0]


@pytest.mark.parametrize(
    ("region", "capacity", "arch", "vcpu_hour", "gb_hour"),
    [
        ("eu-west-2", "fargate", "X86_64", 0.04656, 0.00511),
        ("eu-west-2", "fargate", "ARM64", 0.037248, 0.004088),
        ("us-east-1", "fargate", None, 0.04048, 0.004445),
        ("us-east-1", "fargate", "arm64", 0.03238, 0.00356),
        ("eu-west-1", "fargate_spot", "x86_64", 0.01334053, 0.00146489),
        ("eu-west-2", "fargate_spot", None, 0.013968, 0.001533),
    ],
)
def test_table_rows(
    region: str, capacity: str, arch: str | None, vcpu_hour: float, gb_hour: float
) -> None:
    rate = lookup(region, capacity=capacity, architecture=arch)  # type: ignore[arg-type]

    assert rate is not None
    assert (rate.vcpu_hour, rate.gb_hour) == (vcpu_hour, gb_hour)
    assert region in rate.source


def test_every_row_says_how_it_was_found_and_the_table_its_date_and_page() -> None:
    found = table()
    assert found["taken"] and found["page"].startswith("https://aws.amazon.com/")
    for kinds in found["regions"].values():
        for rows in kinds.values():
            for row in rows.values():
                assert row["how"] == "quoted" or row["how"].startswith("derived")
                assert row["vcpu_hour"] > 0 and row["gb_hour"] > 0


def test_overrides_own_rates_spot_architecture_region_and_discount() -> None:
    own = PriceSettings(vcpu_hour=0.1, gb_hour=0.01)
    assert lookup("nowhere-1", settings=own) == Rate(0.1, 0.01, "defaults.prices")
    spot = lookup("eu-west-2", settings=PriceSettings(capacity="fargate_spot"))
    assert spot is not None and spot.vcpu_hour == 0.013968
    arm = lookup("eu-west-2", architecture="X86_64", settings=PriceSettings(architecture="arm64"))
    assert arm is not None and arm.vcpu_hour == 0.037248
    moved = lookup("nowhere-1", settings=PriceSettings(region="us-east-1"))
    assert moved is not None and moved.vcpu_hour == 0.04048
    less = lookup("eu-west-2", settings=PriceSettings(discount_percent=25))
    assert less is not None
    assert less.vcpu_hour == pytest.approx(0.04656 * 0.75)
    assert "less 25%" in less.source


def test_defaults_prices_in_the_catalogue() -> None:
    catalogue = parse_catalogue(
        "defaults:\n  prices:\n    capacity: fargate_spot\n    discount_percent: 10\n"
        "jobs:\n  parish:\n    repository: digital-land/parish-collection\n"
    )

    assert catalogue.prices == PriceSettings(capacity="fargate_spot", discount_percent=10)
    assert "prices" not in catalogue.jobs["parish"].model_dump()


def test_bad_defaults_prices_are_reported_with_their_line() -> None:
    from batchcron.catalogue.errors import CatalogueError

    text = (
        "defaults:\n  prices:\n    capacity: ec2\n    vcpu_hour: 0.1\n"
        "jobs:\n  parish:\n    repository: digital-land/parish-collection\n"
    )
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text)
    shown = "\n".join(str(problem) for problem in caught.value.problems)
    assert "defaults.prices.capacity" in shown


def test_cost_text() -> None:
    assert [cost_text(v) for v in (None, 0, 0.0004, 0.067, 12.4)] == [
        "-",
        "$0.00",
        "<$0.001",
        "$0.067",
        "$12.40",
    ]
    assert attempt_cost(3600, 1, 0, Rate(1.0, 0, "x")) == 1.0


def test_a_failure_alert_says_what_the_failed_run_cost() -> None:
    from batchcron.models import Alert
    from batchcron.outcomes.alerting import Where, message, texts

    run = finished(
        ("2026-12-01T05:00:00.000Z", "2026-12-01T05:15:00.000Z"),
        ("2026-12-01T05:20:00.000Z", "2026-12-01T05:35:00.000Z"),
        status=Status.FAILED,
    )

    failed = texts(message(run, Alert(kind="failed", failures=1), builder(), Where("eu-west-2")))
    recovered = texts(
        message(run, Alert(kind="recovered", failures=1), builder(), Where("eu-west-2"))
    )

    assert "*Cost*\n$0.067 (estimate, 2 attempts)" in failed
    assert "Cost" not in recovered


def test_a_cost_under_a_tenth_of_a_cent_is_escaped_for_slack() -> None:
    from batchcron.models import Alert
    from batchcron.outcomes.alerting import Where, message, texts

    # Given a failed run of two seconds: "<$0.001", whose "<" Slack would read as a link's start
    run = finished(("2026-12-01T05:00:00.000Z", "2026-12-01T05:00:02.000Z"), status=Status.FAILED)

    failed = texts(message(run, Alert(kind="failed", failures=1), builder(), Where("eu-west-2")))

    assert "*Cost*\n&lt;$0.001 (estimate)" in failed
