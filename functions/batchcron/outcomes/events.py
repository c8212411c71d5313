"""Batch job state changes: the event model, which run an event belongs to, and the order in
which events apply. Pure: no AWS, no environment.

Events can arrive late, twice or out of order. Each is reduced to the run changes it implies
plus an ordering key (number of finished attempts, status rank); the run store applies it only
when its key is greater than the one already recorded. So a duplicate changes nothing, a
terminal status is never overwritten by an older event, and a retry (RUNNING -> RUNNABLE with
one more finished attempt) counts as newer. The newest event defines every event-derived field,
so any permutation of one run's events gives the same record — except the times of RUNNABLE and
STARTING on its timeline, which Batch's events do not carry: the first such event that applies
records its own time (one overtaken by a newer event cannot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from batchcron.catalogue.model import Catalogue
from batchcron.models import (
    CANCEL_REASON,
    Attempt,
    Run,
    Status,
    Trigger,
    bound_text,
    bounded_key,
    iso,
)
from batchcron.records import Record, RecordError, record
from batchcron.records import field as item

TAG_JOB = "batchcron:job"
TAG_TRIGGER = "batchcron:trigger"
TAG_RUN_ID = "batchcron:run-id"
TRIGGERS: frozenset[str] = frozenset({"schedule", "push", "manual", "upstream", "backfill"})
MAX_ATTEMPTS_KEPT = 10  # Batch allows 10 attempts; a forged event may list more
MAX_REPOSITORY = 150  # owner (39) / name (100) at most on GitHub

# Rank of each Batch status within one attempt. Terminal statuses share the top rank: a job
# reaches at most one of them.
STATUS_RANK: dict[Status, int] = {
    Status.SUBMITTED: 1,
    Status.PENDING: 2,
    Status.RUNNABLE: 3,
    Status.STARTING: 4,
    Status.RUNNING: 5,
    Status.SUCCEEDED: 9,
    Status.FAILED: 9,
    Status.CANCELLED: 9,
}
BATCH_TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})


# The statusReason AWS Batch documents for a job cancelled by the queue's
# jobStateTimeLimitActions: "Canceled by JobStateTimeLimit action due to reason: <reason>".
STUCK_PREFIX = re.compile(r"^\s*Cancell?ed by JobStateTimeLimit action due to reason:\s*", re.I)
STUCK_REASONS = {
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": "no capacity was available to place it",
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": (
        "it needs more vCPUs or memory than the compute environment's maximum"
    ),
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": (
        "no resource in the compute environment satisfies its resource requirements"
    ),
    "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED": (
        "the compute environment's instance configuration is not supported"
    ),
}

# A timestamp at the end of a hand-made job name: -20240101, -20240101T000000(Z), -1700000000,
# -2024-01-01, -2024-01-01-00-00-00, ...
TRAILING_STAMP = re.compile(
    r"[-_.]"
    r"(?:\d{4}-?\d{2}-?\d{2}(?:[T_-]?\d{2}(?:[:-]?\d{2}){0,2}(?:\.?\d{1,6})?Z?)?|\d{10,14})$",
    re.I,
)


class BadJobStateEventError(ValueError):
    """The event is not a usable Batch Job State Change; nothing was recorded."""


# --- the event -------------------------------------------------------------------------------


# AWS adds fields over time: the records ignore what we do not use.


@record()
class EnvironmentVariable(Record):
    name: str
    value: str | None = None


@record()
class ResourceRequirement(Record):
    type: str
    value: str


@record()
class RuntimePlatform(Record):
    cpu_architecture: str | None = item(default=None, key="cpuArchitecture")


@record()
class ContainerDetail(Record):
    image: str | None = None
    resource_requirements: list[ResourceRequirement] = item(
        default_factory=list, key="resourceRequirements"
    )
    runtime_platform: RuntimePlatform | None = item(default=None, key="runtimePlatform")
    exit_code: int | None = item(default=None, key="exitCode")
    reason: str | None = None
    log_stream_name: str | None = item(default=None, key="logStreamName")
    environment: list[EnvironmentVariable] = item(default_factory=list)


@record()
class AttemptContainer(Record):
    exit_code: int | None = item(default=None, key="exitCode")
    reason: str | None = None
    log_stream_name: str | None = item(default=None, key="logStreamName")


@record()
class EksContainer(Record):
    """One container of an EKS attempt (`eksAttempts[].containers[]`)."""

    name: str | None = None
    exit_code: int | None = item(default=None, key="exitCode")
    reason: str | None = None


@record()
class EksAttempt(Record):
    containers: list[EksContainer] = item(default_factory=list)
    started_at: int | None = item(default=None, key="startedAt")
    stopped_at: int | None = item(default=None, key="stoppedAt")
    status_reason: str | None = item(default=None, key="statusReason")


@record()
class AttemptDetail(Record):
    container: AttemptContainer | None = None
    started_at: int | None = item(default=None, key="startedAt")
    stopped_at: int | None = item(default=None, key="stoppedAt")
    status_reason: str | None = item(default=None, key="statusReason")


@record()
class ArrayProperties(Record):
    """An array parent's `size`; a child's `index`."""

    size: int | None = None
    index: int | None = None


@record()
class NodeProperties(Record):
    num_nodes: int | None = item(default=None, key="numNodes")


@record()
class NodeDetails(Record):
    """A multi-node job's node: which it is."""

    node_index: int | None = item(default=None, key="nodeIndex")
    is_main_node: bool | None = item(default=None, key="isMainNode")


@record()
class RetryStrategy(Record):
    attempts: int | None = None


@record()
class BatchJobDetail(Record):
    """The `detail` of a Batch Job State Change (a JobDetail as DescribeJobs returns it)."""

    job_arn: str = item(key="jobArn")
    job_name: str = item(key="jobName", min_length=1)
    job_id: str = item(key="jobId", min_length=1)
    job_queue: str = item(key="jobQueue")
    status: Literal[
        "SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"
    ]
    status_reason: str | None = item(default=None, key="statusReason")
    attempts: list[AttemptDetail] = item(default_factory=list)
    eks_attempts: list[EksAttempt] = item(default_factory=list, key="eksAttempts")
    created_at: int | None = item(default=None, key="createdAt")
    started_at: int | None = item(default=None, key="startedAt")
    stopped_at: int | None = item(default=None, key="stoppedAt")
    retry_strategy: RetryStrategy | None = item(default=None, key="retryStrategy")
    job_definition: str | None = item(default=None, key="jobDefinition")
    container: ContainerDetail | None = None
    tags: dict[str, str] = item(default_factory=dict)
    array_properties: ArrayProperties | None = item(default=None, key="arrayProperties")
    node_properties: NodeProperties | None = item(default=None, key="nodeProperties")
    node_details: NodeDetails | None = item(default=None, key="nodeDetails")

    @property
    def parent_id(self) -> str:
        """The parent's job id: an array child is `<id>:<n>`, a node `<id>#<n>`."""
        return re.split(r"[:#]", self.job_id, maxsplit=1)[0] or self.job_id

    @property
    def child_index(self) -> int | None:
        """This event's index among its parent's children or nodes; None for a parent."""
        if self.parent_id == self.job_id:
            return None
        tail = self.job_id[len(self.parent_id) + 1 :]
        return int(tail) if tail.isdigit() and len(tail) <= 6 else -1

    @property
    def children_total(self) -> int | None:
        """How many children (array size) or nodes a parent has."""
        if self.array_properties is not None and self.array_properties.size is not None:
            return self.array_properties.size
        if self.node_properties is not None:
            return self.node_properties.num_nodes
        return None

    def env(self, name: str) -> str | None:
        for variable in self.container.environment if self.container else []:
            if variable.name == name:
                return variable.value
        return None


@record()
class BatchJobStateChange(Record):
    """EventBridge `Batch Job State Change` from `aws.batch` (the EventBridge envelope's fields
    as Powertools' EventBridgeModel required them, plus the Batch detail)."""

    version: str
    id: str
    source: Literal["aws.batch"]
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: Literal["Batch Job State Change"] = item(key="detail-type")
    detail: BatchJobDetail
    replay_name: str | None = item(default=None, key="replay-name")


def parse_event(event: Any) -> BatchJobStateChange:
    """Validate a raw event; BadJobStateEventError names every problem."""
    if not isinstance(event, dict):
        raise BadJobStateEventError("a Batch job state change event must be a JSON object")
    try:
        parsed = BatchJobStateChange.model_validate(event)
    except RecordError as exc:
        raise BadJobStateEventError(f"malformed Batch job state change: {_problems(exc)}") from None
    return parsed


def _problems(exc: RecordError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}"
        for error in exc.errors()
    )


# --- ordering --------------------------------------------------------------------------------


def order_key(attempts: int, status: Status) -> tuple[int, int]:
    """(finished attempts, status rank): greater means newer."""
    return attempts, STATUS_RANK.get(status, 0)


def order_value(attempts: int, status: Status) -> int:
    """`order_key` as one number (stored on the run; Batch allows at most 10 attempts)."""
    finished, rank = order_key(attempts, status)
    return finished * 10 + rank


def is_newer(candidate: int, recorded: int) -> bool:
    """Whether an event with order `candidate` applies over a run recorded at `recorded`."""
    return candidate > recorded


# --- which run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """The run an event belongs to."""

    job: str
    run_id: str
    trigger: Trigger
    foreign: bool
    repository: str | None


def identify(detail: BatchJobDetail, catalogue: Catalogue | None) -> Identity:
    """batchcron's own jobs by their tags (or the environment batchcron sets); any other job by
    its container's REPOSITORY (the catalogue job of that repository, else REPOSITORY itself),
    else by its name minus a trailing timestamp."""
    tags = detail.tags
    job = tags.get(TAG_JOB) or detail.env("BATCHCRON_JOB")
    run_id = tags.get(TAG_RUN_ID) or detail.env("BATCHCRON_RUN_ID")
    repository_name = detail.env("REPOSITORY")
    owner = detail.env("GITHUB_ORG")
    catalogued = catalogue.jobs.get(job) if catalogue and job else None
    if job and run_id:
        # Bounded like any outside input; batchcron's own names are far shorter, so unchanged.
        job, run_id = bounded_key(job), bounded_key(run_id)
        trigger = tags.get(TAG_TRIGGER, "manual")
        repository = catalogued.repository if catalogued else _repository(owner, repository_name)
        return Identity(
            job=job,
            run_id=run_id,
            trigger=trigger if trigger in TRIGGERS else "manual",  # type: ignore[arg-type]
            foreign=False,
            repository=repository,
        )
    match = catalogue.by_repository_name(repository_name) if catalogue and repository_name else None
    if match is not None:
        name, repository = match.name, match.repository
    elif repository_name:
        name, repository = _job_name(repository_name), _repository(owner, repository_name)
    else:
        name, repository = _job_name(TRAILING_STAMP.sub("", detail.job_name)), None
    # Hand-made job names repeat; the job id keeps their runs apart. Keys from outside input are
    # bounded (a readable prefix and a hash when long), so any REPOSITORY or job name records.
    return Identity(
        job=bounded_key(name),
        run_id=foreign_run_id(detail),
        trigger="manual",
        foreign=True,
        repository=repository,
    )


def foreign_run_id(detail: BatchJobDetail) -> str:
    """A run id for a job batchcron did not submit: its name and its (parent's) job id, so an
    array's children and a multi-node job's nodes share their parent's run."""
    return bounded_key(f"{detail.job_name}-{detail.parent_id[:8]}")


def untrusted(identity: Identity, detail: BatchJobDetail, catalogue: Catalogue | None) -> Identity:
    """A job carrying batchcron's tags that batchcron did not submit: a foreign run under its
    own key, never a catalogue job's (its job name gains `-foreign` until it names none)."""
    name = bounded_key(f"{_job_name(identity.job)}-foreign")
    while catalogue is not None and name in catalogue.jobs:
        name = bounded_key(f"{name}-foreign")
    return Identity(
        job=name,
        run_id=foreign_run_id(detail),
        trigger="manual",
        foreign=True,
        repository=identity.repository,
    )


def _repository(owner: str | None, name: str | None) -> str | None:
    if not name:
        return None
    return bound_text(f"{owner}/{name}" if owner else name, MAX_REPOSITORY)


def _job_name(text: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.strip().lower()).strip("-")
    return cleaned or "unknown"


# --- what an event changes -------------------------------------------------------------------


@dataclass(frozen=True)
class StateChange:
    """One event reduced to a conditional write on its run."""

    identity: Identity
    status: Status
    order: int
    batch_job_id: str
    region: str
    # Event-derived run fields; the newest event defines them all (None = absent).
    fields: dict[str, Any] = field(default_factory=dict)
    # Fields a run item gets only if it has none yet (runs batchcron did not create).
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def job(self) -> str:
        return self.identity.job

    @property
    def run_id(self) -> str:
        return self.identity.run_id

    @property
    def terminal(self) -> bool:
        return self.status in BATCH_TERMINAL

    @property
    def stuck(self) -> str | None:
        """The RUNNABLE time-limit reason when the queue cancelled the job, else None."""
        return stuck_reason(self.status, self.fields.get("reason"))

    @property
    def will_retry(self) -> bool:
        """A failed attempt Batch is retrying (not an outcome: never alerted)."""
        return not self.terminal and len(self.fields.get("attempts") or []) > 0


def stuck_reason(status: Status | str, reason: str | None) -> str | None:
    """`CAPACITY:...` etc. when `reason` is the documented RUNNABLE time-limit cancellation."""
    if status != Status.FAILED or not reason:
        return None
    match = STUCK_PREFIX.match(reason)
    if not match:
        return None
    return reason[match.end() :].strip() or "unknown"


def cancelled(reason: str | None) -> bool:
    """The statusReason of a job `batchcron cancel` terminated."""
    return bool(reason) and str(reason).startswith(CANCEL_REASON)


def explain_stuck(reason: str) -> str:
    return STUCK_REASONS.get(reason.upper(), "AWS Batch could not place it")


def interpret(
    event: BatchJobStateChange, catalogue: Catalogue | None, identity: Identity | None = None
) -> StateChange:
    """The run changes one event implies (on `identity`'s run, when given: an untrusted one)."""
    detail = event.detail
    identity = identity or identify(detail, catalogue)
    status = Status(detail.status)
    if status == Status.FAILED and cancelled(detail.status_reason):
        status = Status.CANCELLED
    attempts = [_attempt(attempt) for attempt in detail.attempts] or [
        _eks_attempt(attempt) for attempt in detail.eks_attempts
    ]
    finished = len(attempts)  # the ordering counts every attempt; the record keeps the last few
    attempts = attempts[-MAX_ATTEMPTS_KEPT:]
    container = detail.container
    last = attempts[-1] if attempts else None
    exit_code = container.exit_code if container and container.exit_code is not None else None
    log_stream = container.log_stream_name if container else None
    if exit_code is None and last is not None and status in BATCH_TERMINAL:
        exit_code = last.exit_code
    log_stream = bound_text(log_stream, 512)
    if log_stream is None and last is not None:
        log_stream = last.log_stream
    started, stopped = _ms(detail.started_at), _ms(detail.stopped_at)
    duration = None
    if detail.started_at is not None and detail.stopped_at is not None:
        duration = max(0.0, (detail.stopped_at - detail.started_at) / 1000)
    max_attempts = detail.retry_strategy.attempts if detail.retry_strategy else None
    fields: dict[str, Any] = {
        "status": status.value,
        "reason": bound_text(detail.status_reason),
        "batch_job_id": detail.job_id,
        "job_queue": detail.job_queue,
        "attempts": [attempt.model_dump(exclude_none=True) for attempt in attempts],
        "started_at": iso(started),
        "stopped_at": iso(stopped),
        "duration_seconds": duration,
        "exit_code": exit_code,
        "log_stream": log_stream,
        "max_attempts": max_attempts or 1,
        "specific_cause": specific_cause(detail) if status in BATCH_TERMINAL else None,
    }
    if detail.children_total is not None and detail.child_index is None:
        fields["child_total"] = detail.children_total
        fields["child_kind"] = "array children" if detail.array_properties else "nodes"
    created = _ms(detail.created_at) or event.time.astimezone(UTC)
    defaults: dict[str, Any] = {
        "job": identity.job,
        "run_id": identity.run_id,
        "trigger": identity.trigger,
        "created_at": iso(created),
        "foreign": identity.foreign,
    }
    if identity.repository:
        defaults["repository"] = identity.repository
    defaults.update(_timeline(status, event.time, started, attempts))
    defaults.update(_resources(container))
    return StateChange(
        identity=identity,
        status=status,
        order=order_value(finished, status),
        batch_job_id=detail.job_id,
        region=event.region,
        fields=fields,
        defaults=defaults,
    )


# The run's life as its events tell it: the first time each status was seen (an if-not-exists
# write, so a retry's second RUNNABLE keeps the first). RUNNING is Batch's own startedAt.
TIMELINE_FIELDS = {
    Status.RUNNABLE: "runnable_at",
    Status.STARTING: "starting_at",
    Status.RUNNING: "running_at",
}


def _timeline(
    status: Status, at: datetime, started: datetime | None, attempts: list[Attempt]
) -> dict[str, str]:
    name = TIMELINE_FIELDS.get(status)
    if name == "running_at":
        first = attempts[0].started_at if attempts else None
        return {name: first or iso(started or at.astimezone(UTC)) or ""}
    if name is not None:
        return {name: iso(at.astimezone(UTC)) or ""}
    if status in BATCH_TERMINAL and attempts and attempts[0].started_at:
        return {"running_at": attempts[0].started_at}  # its RUNNING event was lost or late
    return {}


def _resources(container: ContainerDetail | None) -> dict[str, Any]:
    """vCPUs, memory and CPU architecture the job ran with (what its cost is reckoned on)."""
    found: dict[str, Any] = {}
    if container is None:
        return found
    for requirement in container.resource_requirements:
        try:
            if requirement.type.upper() == "VCPU":
                found["vcpus"] = float(requirement.value)
            elif requirement.type.upper() == "MEMORY":
                found["memory_mib"] = int(float(requirement.value))
        except ValueError:
            continue  # not a number: the catalogue's size is used
    platform = container.runtime_platform
    if platform is not None and platform.cpu_architecture:
        found["architecture"] = bound_text(platform.cpu_architecture, 20)
    return found


def _attempt(attempt: AttemptDetail) -> Attempt:
    container = attempt.container
    return Attempt(
        exit_code=container.exit_code if container else None,
        reason=bound_text((container.reason if container else None) or attempt.status_reason),
        log_stream=bound_text(container.log_stream_name if container else None, 512),
        started_at=iso(_ms(attempt.started_at)),
        stopped_at=iso(_ms(attempt.stopped_at)),
    )


def _eks_attempt(attempt: EksAttempt) -> Attempt:
    """An EKS attempt: the first container that failed (else the first) gives its exit code."""
    containers = attempt.containers
    failed = [one for one in containers if one.exit_code not in (None, 0)]
    chosen = failed[0] if failed else (containers[0] if containers else None)
    return Attempt(
        exit_code=chosen.exit_code if chosen else None,
        reason=bound_text((chosen.reason if chosen else None) or attempt.status_reason),
        started_at=iso(_ms(attempt.started_at)),
        stopped_at=iso(_ms(attempt.stopped_at)),
    )


def specific_cause(detail: BatchJobDetail) -> str | None:
    """The most specific cause Batch gives beside its `statusReason`: the last attempt's
    container reason (`CannotPullContainerError: ...`), the job's container reason, or an EKS
    container's; None when it says no more than the status reason."""
    found: list[str | None] = []
    if detail.attempts and detail.attempts[-1].container is not None:
        found.append(detail.attempts[-1].container.reason)
    if detail.container is not None:
        found.append(detail.container.reason)
    if detail.eks_attempts:
        found.extend(one.reason for one in detail.eks_attempts[-1].containers)
    for reason in found:
        text = bound_text(reason)
        if text and text.strip() and text.strip() != (detail.status_reason or "").strip():
            return text
    return None


def _ms(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def apply(run: Run | None, change: StateChange) -> Run | None:
    """What the run store's conditional write does, in memory: the run after `change`, or
    None when the change does not apply (older or duplicate)."""
    if run is not None and not is_newer(change.order, run.order):
        return None
    base: dict[str, Any] = dict(change.defaults)
    if run is not None:
        base.update(run.model_dump(exclude_none=True))
    base.update({key: value for key, value in change.fields.items() if value is not None})
    for key, value in change.fields.items():
        if value is None:
            base.pop(key, None)
    base["order"] = change.order
    return Run.model_validate(base)
