"""What a run cost, estimated: each attempt's running time × its size × the price table. Pure.

cost of one attempt = running seconds × (vCPUs × USD per vCPU-hour + GB × USD per GB-hour) / 3600

Running time is Batch's startedAt → stoppedAt of every attempt, failed and retried ones included
(a failure costs too). The size is what the run's Batch events say it ran with, else the
catalogue's `vcpus`/`memory_mib`; memory in GB is MiB / 1024 (Fargate bills memory by the GB of
what the task is given). docs/cost.md: the formula, the table's source, what is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from batchcron.catalogue.model import Catalogue, Job
from batchcron.catalogue.prices import PriceSettings, Rate, lookup
from batchcron.models import Run, parse_time


@dataclass(frozen=True)
class Cost:
    """A run's estimated cost and what it was reckoned from."""

    usd: float
    seconds: float  # running time of every attempt
    attempts: int
    vcpus: float
    memory_gb: float
    rate: Rate

    def as_json(self) -> dict[str, object]:
        return {
            "usd": round(self.usd, 6),
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
            "vcpus": self.vcpus,
            "memory_gb": self.memory_gb,
            "vcpu_hour": self.rate.vcpu_hour,
            "gb_hour": self.rate.gb_hour,
            "source": self.rate.source,
        }


def attempt_cost(seconds: float, vcpus: float, memory_gb: float, rate: Rate) -> float:
    """USD for one attempt of `seconds` at `vcpus` and `memory_gb`."""
    return seconds * (vcpus * rate.vcpu_hour + memory_gb * rate.gb_hour) / 3600


def running_spans(run: Run, now: datetime | None = None) -> list[float]:
    """Seconds each attempt ran (startedAt → stoppedAt). A run still RUNNING adds its current
    attempt up to `now` when given (its cost so far)."""
    spans: list[float] = []
    for attempt in run.attempts:
        if attempt.started_at and attempt.stopped_at:
            seconds = parse_time(attempt.stopped_at) - parse_time(attempt.started_at)
            spans.append(max(0.0, seconds.total_seconds()))
    if not spans and run.started_at and run.stopped_at:
        seconds = parse_time(run.stopped_at) - parse_time(run.started_at)
        spans.append(max(0.0, seconds.total_seconds()))
    elif run.started_at and not run.stopped_at and not run.finished and now is not None:
        begun = parse_time(run.started_at)
        if not any(a.started_at and parse_time(a.started_at) >= begun for a in run.attempts):
            spans.append(max(0.0, (now - begun).total_seconds()))
    return spans


def run_cost(
    run: Run,
    job: Job | None,
    *,
    region: str,
    settings: PriceSettings | None = None,
    now: datetime | None = None,
) -> Cost | None:
    """The run's estimated cost; None when it never ran, its size is unknown (not in the
    catalogue and no size in its events) or the price table has no row for its region."""
    spans = running_spans(run, now)
    if not spans:
        return None
    vcpus = run.vcpus if run.vcpus is not None else (job.vcpus if job else None)
    memory = run.memory_mib if run.memory_mib is not None else (job.memory_mib if job else None)
    if vcpus is None or memory is None:
        return None
    rate = lookup(
        queue_region(run.job_queue) or region, architecture=run.architecture, settings=settings
    )
    if rate is None:
        return None
    memory_gb = memory / 1024
    usd = sum(attempt_cost(seconds, vcpus, memory_gb, rate) for seconds in spans)
    return Cost(usd, sum(spans), len(spans), vcpus, memory_gb, rate)


def queue_region(arn: str | None) -> str | None:
    """The region of a job queue's ARN (arn:aws:batch:REGION:account:job-queue/...)."""
    parts = (arn or "").split(":", 5)
    return parts[3] if len(parts) > 4 and parts[0] == "arn" and parts[3] else None


def catalogue_cost(
    run: Run, catalogue: Catalogue, region: str, now: datetime | None = None
) -> Cost | None:
    """`run_cost` with the catalogue's job and `defaults.prices`."""
    job = catalogue.jobs.get(run.job)
    return run_cost(run, job, region=region, settings=catalogue.prices, now=now)


def total(costs: Iterable[Cost | None]) -> float:
    return sum(cost.usd for cost in costs if cost is not None)


def cost_text(usd: float | None) -> str:
    """`$0.067`, `$12.40`, `<$0.001`; `-` for none."""
    if usd is None:
        return "-"
    if usd == 0:
        return "$0.00"
    if usd < 0.001:
        return "<$0.001"
    if usd < 1:
        return f"${usd:.3f}"
    return f"${usd:,.2f}"


@dataclass(frozen=True)
class Spend:
    """A job's (or a day's) estimated spend over some runs."""

    key: str
    runs: int = 0
    failed: int = 0
    seconds: float = 0.0
    usd: float = 0.0
    unpriced: int = 0  # runs that ran but could not be priced (size or region unknown)

    def add(self, run: Run, cost: Cost | None) -> Spend:
        from batchcron.models import Status

        ran = bool(running_spans(run))
        return Spend(
            self.key,
            self.runs + 1,
            self.failed + (run.status == Status.FAILED),
            self.seconds + (cost.seconds if cost else 0.0),
            self.usd + (cost.usd if cost else 0.0),
            self.unpriced + (ran and cost is None),
        )

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "runs": self.runs,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "usd": round(self.usd, 6),
            "unpriced_runs": self.unpriced,
        }


def spend_by(
    runs: Iterable[Run],
    catalogue: Catalogue,
    region: str,
    *,
    by: str = "job",
    since: str | None = None,
) -> list[Spend]:
    """Runs (created at or after `since`) summed per job or per UTC day, largest cost first
    (days: oldest first)."""
    found: dict[str, Spend] = {}
    for run in runs:
        if since is not None and run.created_at < since:
            continue
        key = run.job if by == "job" else run.created_at[:10]
        found[key] = found.get(key, Spend(key)).add(run, catalogue_cost(run, catalogue, region))
    if by == "job":
        return sorted(found.values(), key=lambda spend: (-spend.usd, spend.key))
    return [found[key] for key in sorted(found)]
