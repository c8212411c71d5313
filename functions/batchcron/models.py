"""Records of the run store: runs and per-job state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from batchcron.records import Record, field, record

Trigger = Literal["schedule", "push", "manual", "upstream", "backfill"]


class Status(StrEnum):
    """A run's status: batchcron's own before submission, then AWS Batch's."""

    CLAIMED = "CLAIMED"  # slot claimed, SubmitJob not yet confirmed
    QUEUED = "QUEUED"  # waiting behind an active run (concurrency: queue)
    SUPERSEDED = "SUPERSEDED"  # a newer trigger replaced this queued run
    SKIPPED = "SKIPPED"  # previous run still active (concurrency: forbid), or paused
    MISSED = "MISSED"  # past its starting deadline
    SUBMIT_FAILED = "SUBMIT_FAILED"  # SubmitJob failed; retried by later ticks until the deadline
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # terminated by `batchcron cancel` (Batch says FAILED)

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {
        Status.SUCCEEDED,
        Status.FAILED,
        Status.CANCELLED,
        Status.SKIPPED,
        Status.MISSED,
        Status.SUPERSEDED,
    }
)


MAX_TEXT_BYTES = 2048  # free text from outside (status reasons) kept per field on a run
TRUNCATED = "… [truncated]"
MAX_KEY_CHARS = 100  # names from outside input used in keys (DynamoDB allows 1,024-2,048 bytes)


def bound_text(text: str | None, limit: int = MAX_TEXT_BYTES) -> str | None:
    """`text` cut to at most `limit` UTF-8 bytes, marked as truncated when it was cut."""
    if text is None or len(text.encode("utf-8")) <= limit:
        return text
    room = limit - len(TRUNCATED.encode("utf-8"))
    cut = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return cut + TRUNCATED


def bounded_key(text: str, limit: int = MAX_KEY_CHARS) -> str:
    """`text` when short; else a readable prefix plus a short hash of the whole, so two long
    names stay distinct and the key stays within DynamoDB's limits."""
    if len(text) <= limit and len(text.encode("utf-8")) <= limit:
        return text
    import hashlib

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    prefix = text.encode("utf-8")[: limit - 13].decode("utf-8", errors="ignore")
    return f"{prefix}-{digest}"


# The TerminateJob reason `batchcron cancel` gives ("batchcron: cancelled by <user>"): Batch
# reports such a job FAILED with this statusReason; batchcron records it CANCELLED.
CANCEL_REASON = "batchcron: cancelled"

# The one clock's distance from real time: zero, except in local mode started with `--now` (and
# the CLI talking to it), which set it in-process. No environment variable or event moves it, so
# a deployed function always runs on real time.
_offset = timedelta(0)


def utcnow() -> datetime:
    """The time now, in UTC: the one clock product code reads (docs/clock.md). Timeouts and
    budgets measure with `time.monotonic`, which no setting of this clock moves."""
    return datetime.now(UTC) + _offset


def set_clock(start: datetime | None) -> timedelta:
    """Start the clock at `start` (aware), from where it runs on at real speed; None: real time.
    Returns the offset from real time, which `set_clock_offset` takes."""
    set_clock_offset(timedelta(0))
    offset = timedelta(0) if start is None else start - utcnow()
    set_clock_offset(offset)
    return offset


def set_clock_offset(offset: timedelta) -> None:
    """Run the clock `offset` away from real time (what local mode's state records)."""
    global _offset
    _offset = offset


def clock_offset() -> timedelta:
    """How far the clock runs from real time (zero unless set)."""
    return _offset


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a trailing Z, to the millisecond (sortable as text)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse ISO 8601 (Z or offset); naive input is taken as UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@record()
class Attempt(Record):
    """One Batch attempt of a run."""

    exit_code: int | None = None
    reason: str | None = None
    log_stream: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None


@record()
class Alert(Record):
    """The alert a run's outcome calls for, and whether Slack has it.

    `skipped`: no Slack URL configured; `failed`: Slack refused it for good, or kept failing for
    a day (kept on the run, never retried)."""

    # failed | still_failing | recovered | missed | submit_failed | skipped | stuck | paused
    kind: str
    state: Literal["pending", "sent", "skipped", "failed"] = "pending"
    failures: int = 0
    created_at: str | None = None
    sent_at: str | None = None
    attempts: int = 0  # deliveries Slack did not take
    next_attempt_at: str | None = None  # not before this (Retry-After, backoff)
    error: str | None = None  # the last refusal
    blocks: list[str] = field(default_factory=list)  # jobs waiting for this one to succeed


@record()
class Run(Record):
    """One triggered run of a job."""

    job: str
    run_id: str
    trigger: Trigger
    status: Status
    created_at: str
    repository: str | None = None
    slot: str | None = None
    git_ref: str | None = None
    pusher: str | None = None
    compare_url: str | None = None
    batch_job_id: str | None = None
    job_queue: str | None = None
    reason: str | None = None
    # The cause behind a generic `reason` ("Task failed to start"): the last attempt's
    # container reason ("CannotPullContainerError: ..."), from the terminal event.
    specific_cause: str | None = None
    submitted_at: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    duration_seconds: float | None = None
    exit_code: int | None = None
    log_stream: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    max_attempts: int | None = None
    order: int = 0  # (attempts, status rank) of the last applied Batch event
    deadline: str | None = None
    claimed_at: str | None = None
    alert: Alert | None = None
    foreign: bool = False  # submitted outside batchcron (recorded from its events)
    upstream_runs: list[str] = field(default_factory=list)  # trigger upstream: what completed it
    # The run's life from its Batch events, first seen of each (docs/cost.md "Start lag").
    runnable_at: str | None = None
    starting_at: str | None = None
    running_at: str | None = None
    # What it ran on, from its Batch events (the job definition's, as Batch resolved it).
    vcpus: float | None = None
    memory_mib: int | None = None
    architecture: str | None = None
    cancel_requested_at: str | None = None  # `cancel` asked Batch to terminate it (by whom)
    cancel_requested_by: str | None = None
    # An array's children or a multi-node job's nodes: index -> status, and how many.
    child_status: dict[str, str] = field(default_factory=dict)
    child_total: int | None = None
    child_kind: str | None = None  # "array children" or "nodes"

    @property
    def finished(self) -> bool:
        return self.status.terminal

    @property
    def children(self) -> Children | None:
        """Progress of the run's children (never its own status), or None for a plain job."""
        if not self.child_status and self.child_total is None:
            return None
        failed = sorted(
            int(index)
            for index, status in self.child_status.items()
            if status == "FAILED" and index.lstrip("-").isdigit()
        )
        succeeded = sum(1 for status in self.child_status.values() if status == "SUCCEEDED")
        total = self.child_total if self.child_total is not None else len(self.child_status)
        return Children(succeeded=succeeded, failed=len(failed), total=total, failed_indexes=failed)


@record(frozen=True)
class Children(Record):
    """`children: {succeeded: 2, failed: 1, total: 3}` and the failed indexes."""

    succeeded: int
    failed: int
    total: int
    failed_indexes: list[int] = field(default_factory=list)

    def sentence(self, kind: str = "array children") -> str:
        """ "1 of 3 array children failed: index 1" (or how many succeeded)."""
        if self.failed:
            shown = ", ".join(str(index) for index in self.failed_indexes[:10])
            more = ", …" if len(self.failed_indexes) > 10 else ""
            word = "index" if self.failed == 1 else "indexes"
            return f"{self.failed} of {self.total} {kind} failed: {word} {shown}{more}"
        return f"{self.succeeded} of {self.total} {kind} succeeded"


@record()
class PendingRun(Record):
    """A queued run waiting for the active one to end (concurrency: queue)."""

    run_id: str
    trigger: Trigger
    requested_at: str


@record()
class JobState(Record):
    """Per-job state: pause flag, overlap guard, failure streak."""

    job: str
    paused: bool = False
    paused_at: str | None = None
    paused_by: str | None = None  # `batchcron` when it paused itself (pause_after_failures)
    paused_reason: str | None = None
    # The due time of a deadline missed and not met yet (set by the tick's check when it
    # alerts, cleared by the late success's follow-up): the grid, `jobs` and `status` read it.
    deadline_missed: str | None = None
    active_run_id: str | None = None
    active_batch_job_id: str | None = None
    active_since: str | None = None
    pending_run_id: str | None = None
    consecutive_failures: int = 0
    consecutive_skips: int = 0
    last_run_id: str | None = None
    last_status: str | None = None
    last_finished_at: str | None = None
    last_success_at: str | None = None
    last_failure_at: str | None = None
    last_counted_run_id: str | None = None  # the run whose outcome was counted last
    # The newest run whose outcome counts for `after:` jobs: a cancelled run does not (it is
    # counted above, so `last_*` show it, but it neither completes nor blocks a cycle).
    last_outcome_run_id: str | None = None
    last_outcome_status: str | None = None
    last_outcome_at: str | None = None
    # `after:` jobs: the open cycle began at `upstream_since` (the previous upstream run's
    # start); `upstream_start` names a run whose cycle is claimed but not yet submitted;
    # `upstream_runs` and `upstream_finished` are the runs that start consumed (never again).
    upstream_since: str | None = None
    upstream_run_id: str | None = None
    upstream_start: str | None = None
    upstream_runs: list[str] = field(default_factory=list)  # what the open cycle's start took
    upstream_finished: dict[str, str] = field(default_factory=dict)  # upstream job -> finish
    # The watchdog (`after.max_wait`): the cycle whose overdue wait was alerted (its check is
    # CHECK#wait#<cycle>) and whether that alert still has to reach Slack.
    wait_cycle: str | None = None
    wait_alert: Literal["pending", "sent"] | None = None
    # Slack app mode: the failure streak's first message (its thread), where it was posted,
    # the run it was about, and who acknowledged the streak (silences "still failing").
    slack_thread_ts: str | None = None
    slack_thread_channel: str | None = None
    slack_thread_run_id: str | None = None
    slack_acked_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def duration_text(seconds: float | None) -> str | None:
    """A duration for alerts and the CLI: `1h 02m 03s`, `2m 05s`, `7s`; None for none."""
    if seconds is None:
        return None
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def run_duration(run: Run) -> float | None:
    """How long `run` ran: its recorded duration, else from its start and stop times."""
    if run.duration_seconds is not None:
        return run.duration_seconds
    if run.started_at and run.stopped_at:
        return (parse_time(run.stopped_at) - parse_time(run.started_at)).total_seconds()
    return None


def run_json(run: Run) -> dict[str, Any]:
    """`run` as JSON for scripts (`-o json`, the page's `/api/runs`), with its duration."""
    data = run.model_dump(mode="json", exclude_none=True)
    data["duration_seconds"] = run_duration(run)
    return data
