"""The one submit path: schedule, push and manual triggers all start runs here.

A run is first *claimed* (a conditional put of its item, so a slot or delivery is handled
once), then checked against the job's concurrency policy, then submitted to Batch. A claim
sits in the outbox until SubmitJob is confirmed, so a crash in between is re-driven by a
later tick (which first asks Batch for a job of that name).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from batchcron.adapters.batch import FINISHED, Batch, BatchUnavailableError, JobSpec
from batchcron.catalogue.model import Job
from batchcron.models import Alert, JobState, Run, Status, Trigger, bound_text, iso, utcnow
from batchcron.observability import count, logger
from batchcron.settings import Settings
from batchcron.store.items import ConflictError
from batchcron.store.runs import ALERTS, OUTBOX, RunStore

# A claim older than this cannot still be in flight (the dispatcher's timeout is shorter).
REDRIVE_AFTER = timedelta(minutes=3)
# The tag naming the stack that submitted a job (template.yaml's IAM conditions use it).
STACK_TAG = "batchcron:stack"
SKIPS_BEFORE_ALERT = 3

Action = Literal["submitted", "skipped", "queued", "failed", "duplicate", "missed"]


class OverrideNotAllowedError(ValueError):
    """A job names a queue or definition the stack does not allow."""


class JobPausedError(ValueError):
    """A manual run of a paused job, not forced: refused before anything is recorded."""

    def __init__(self, job: str) -> None:
        super().__init__(f"{job} is paused; a manual run starts only when forced")
        self.job = job


@dataclass
class Outcome:
    """What happened to one trigger of one job."""

    job: str
    run_id: str
    action: Action
    batch_job_id: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, str]:
        found = {"job": self.job, "run_id": self.run_id, "action": self.action}
        if self.batch_job_id:
            found["batch_job_id"] = self.batch_job_id
        if self.reason:
            found["reason"] = self.reason
        return found


@dataclass
class Request:
    """A request to run a job once."""

    job: Job
    trigger: Trigger
    run_id: str
    slot: datetime | None = None
    deadline: datetime | None = None
    git_ref: str | None = None
    pusher: str | None = None
    compare_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    upstream_runs: list[str] = field(default_factory=list)  # trigger upstream
    force: bool = False  # manual: run even though the job is paused


def run_name(job: str, moment: datetime, *, precise: bool) -> str:
    """Batch job name / run id: `<job>-<yyyymmddTHHMMSS>` (slots); push and manual runs add
    milliseconds so two in one second stay distinct."""
    stamp = moment.strftime("%Y%m%dT%H%M%S")
    if precise:
        stamp += f"{moment.microsecond // 1000:03d}"
    return f"{job}-{stamp}"


def definition_allowed(definition: str, allowed: frozenset[str]) -> bool:
    """Whether a job definition ARN is allowed: listed as it is, or its name is listed with the
    revision wildcard (`arn:…:job-definition/NAME:*` covers `NAME:3` and the bare `NAME`)."""
    if definition in allowed:
        return True
    marker = ":job-definition/"
    if marker not in definition:
        return False
    prefix, name = definition.split(marker, 1)
    bare = name.split(":", 1)[0]
    return f"{prefix}{marker}{bare}:*" in allowed


def job_of_run(run_id: str) -> str:
    """The job part of a batchcron run id."""
    return run_id.rsplit("-", 1)[0]


AlertHook = Callable[[Run], None]


class Submitter:
    """Starts runs for every trigger."""

    def __init__(
        self,
        store: RunStore,
        batch: Batch,
        settings: Settings,
        *,
        on_alert: AlertHook | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.batch = batch
        self.settings = settings
        self.on_alert = on_alert
        self.clock = clock

    # --- entry points -------------------------------------------------------------------
    def trigger(self, request: Request, state: JobState | None = None) -> Outcome:
        """Claim a new run for `request` and start it (exactly once per run id)."""
        now = self.clock()
        job = request.job
        self.check_overrides(job)
        if request.trigger == "manual" and not request.force:
            # The one rule for a paused job's manual run: refused unless forced (the CLI's
            # --force, the page's "Run anyway"); nothing is claimed or recorded.
            state = state or self.store.job_state(job.name)
            if state.paused:
                raise JobPausedError(job.name)
        run = self._new_run(request, now)
        if not self.store.claim_run(run, outbox_at=now + REDRIVE_AFTER):
            return self._claimed_before(job, run.run_id, now)
        return self.start(job, run, state, force=request.force)

    def fail(self, request: Request, error: str) -> Outcome:
        """Record a trigger whose submit path raised (before or after its claim) as
        SUBMIT_FAILED with one alert, so it is retried like any failed submit and never taken
        for a slot that passed unseen. A run that got further than a claim is left as it is."""
        now = self.clock()
        job = request.job
        run = self._new_run(request, now)
        if not self.store.claim_run(run, outbox_at=now):
            current = self.store.get_run(job.name, run.run_id)
            if current is None or current.status not in (Status.CLAIMED, Status.SUBMIT_FAILED):
                status = current.status.value if current else "gone"
                return Outcome(job.name, run.run_id, "duplicate", reason=f"already {status}")
            run = current
        return self._submit_failed(job, run, error)

    def fail_run(self, job: Job, run: Run, error: str) -> None:
        """Record that re-driving `run` raised (SUBMIT_FAILED, retried until its deadline); a
        store that fails here too is logged, the run stays in the outbox for the next tick."""
        try:
            self._submit_failed(job, run, error)
        except Exception:
            logger.exception("could not record the failed re-drive", run_id=run.run_id)

    def stop_retrying(self, job: Job, run: Run) -> None:
        """A failed submit past its starting deadline: it stays SUBMIT_FAILED (its alert went
        out with the first failure) and leaves the retry queue."""
        reason = bound_text(f"{run.reason or 'submit failed'}; not retried after its deadline")
        pending = run.alert is not None and run.alert.state == "pending"
        self.store.update_run(
            job.name,
            run.run_id,
            {"reason": reason},
            expect=[Status.SUBMIT_FAILED],
            outbox_at=self.clock() if pending else None,
            queue=ALERTS,
        )
        logger.warning("failed submit not retried after its deadline", run_id=run.run_id)

    def _new_run(self, request: Request, now: datetime) -> Run:
        job = request.job
        return Run(
            job=job.name,
            run_id=request.run_id,
            trigger=request.trigger,
            status=Status.CLAIMED,
            created_at=iso(request.slot or now) or "",
            claimed_at=iso(now),
            repository=job.repository,
            slot=iso(request.slot),
            deadline=iso(request.deadline),
            git_ref=request.git_ref,
            pusher=request.pusher,
            compare_url=request.compare_url,
            max_attempts=job.attempts,
            upstream_runs=list(request.upstream_runs),
        )

    def _claimed_before(self, job: Job, run_id: str, now: datetime) -> Outcome:
        """The run id was claimed already (a duplicate tick, a redelivered webhook). A push or
        manual run that Batch refused then is tried again, once per retry; anything else is
        left as it is (a crashed claim is re-driven by the dispatcher)."""
        existing = self.store.get_run(job.name, run_id)
        if existing is None:
            return Outcome(job.name, run_id, "duplicate", reason="already claimed")
        if existing.status == Status.SUBMIT_FAILED and existing.deadline is None:
            try:
                self.store.update_run(
                    job.name,
                    run_id,
                    {"claimed_at": iso(now)},
                    expect=[Status.SUBMIT_FAILED],
                    condition="#claimed_at = :old",
                    values={":old": existing.claimed_at},
                )
            except ConflictError:
                return Outcome(job.name, run_id, "duplicate", reason="being retried elsewhere")
            logger.info("retrying a run Batch refused earlier", job=job.name, run_id=run_id)
            return self.start(job, existing)
        return Outcome(
            job.name,
            run_id,
            "duplicate",
            batch_job_id=existing.batch_job_id,
            reason=f"already claimed ({existing.status.value})",
        )

    def start(
        self, job: Job, run: Run, state: JobState | None = None, *, force: bool = False
    ) -> Outcome:
        """Apply the pause flag (unless `force`: a manual run forced on a paused job) and the
        concurrency policy to a claimed (or queued) run and submit it. Every path that submits
        (schedule, retry, re-drive, queue, push) comes here."""
        state = state or self.store.job_state(job.name)
        if state.paused and not force:
            return self._paused(job, run)
        for _ in range(3):
            busy = self._active_elsewhere(state, run)
            if busy and job.concurrency == "forbid":
                return self._skip(job, run, state)
            if busy and job.concurrency == "queue":
                return self._queue(job, run, state)
            if busy and job.concurrency == "replace" and state.active_batch_job_id:
                self.batch.terminate(
                    state.active_batch_job_id, f"batchcron: replaced by run {run.run_id}"
                )
                logger.info("terminated active run", job=job.name, run_id=state.active_run_id)
            try:
                self._reserve(job, run, state)
            except ConflictError:
                state = self.store.job_state(job.name)  # someone else moved; look again
                continue
            return self._submit(job, run)
        return self._skip(job, run, state, reason="job state kept changing; will not overlap")

    # --- policy ---------------------------------------------------------------------------
    def _active_elsewhere(self, state: JobState, run: Run) -> bool:
        """Is another run of this job still going? When in doubt, ask Batch: a lost state event
        must never block a job forever."""
        if not state.active_run_id or state.active_run_id == run.run_id:
            return False
        if not state.active_batch_job_id:
            return True  # reserved by a submit in flight
        described = self.batch.describe([state.active_batch_job_id])
        job = described.get(state.active_batch_job_id)
        if job is not None and job.get("status") not in FINISHED:
            return True
        logger.info(
            "active run is over in Batch; releasing the overlap guard",
            job=state.job,
            run_id=state.active_run_id,
            batch_status=job.get("status") if job else "unknown",
        )
        return False

    def _reserve(self, job: Job, run: Run, state: JobState) -> None:
        """Make `run` the job's active run, unless the state changed since we read it."""
        condition = (
            "attribute_not_exists(#active_run_id) OR #active_run_id = :seen"
            if state.active_run_id
            else "attribute_not_exists(#active_run_id)"
        )
        values = {":seen": state.active_run_id} if state.active_run_id else {}
        if job.concurrency == "allow":
            condition, values = "", {}
        changes: dict[str, object] = {
            "active_run_id": run.run_id,
            "active_batch_job_id": None,
            "active_since": iso(self.clock()),
            "consecutive_skips": 0,
        }
        if state.pending_run_id == run.run_id:
            changes["pending_run_id"] = None
        self.store.update_job_state(
            job.name, changes, condition=condition or None, values=values or None
        )

    def _skip(self, job: Job, run: Run, state: JobState, reason: str | None = None) -> Outcome:
        reason = reason or f"previous run {state.active_run_id} is still active"
        new_state = self.store.update_job_state(job.name, add={"consecutive_skips": 1})
        alert = None
        if new_state.consecutive_skips == SKIPS_BEFORE_ALERT and job.notify.enabled:
            alert = Alert(
                kind="skipped", failures=new_state.consecutive_skips, created_at=iso(self.clock())
            )
        self._finish_unstarted(run, Status.SKIPPED, reason, alert)
        count("RunsSkipped")
        logger.info("run skipped", job=job.name, run_id=run.run_id, reason=reason)
        return Outcome(job.name, run.run_id, "skipped", reason=reason)

    def _paused(self, job: Job, run: Run) -> Outcome:
        reason = "job paused"
        self._finish_unstarted(run, Status.SKIPPED, reason, None)
        logger.info("job paused; run not submitted", job=job.name, run_id=run.run_id)
        return Outcome(job.name, run.run_id, "skipped", reason=reason)

    def _queue(self, job: Job, run: Run, state: JobState) -> Outcome:
        """Keep this run pending behind the active one; it replaces an older pending run."""
        self.store.update_job_state(job.name, {"pending_run_id": run.run_id})
        if state.pending_run_id and state.pending_run_id != run.run_id:
            with contextlib.suppress(ConflictError):  # already started or gone
                self.store.update_run(
                    job.name,
                    state.pending_run_id,
                    {"status": Status.SUPERSEDED, "reason": f"replaced by {run.run_id}"},
                    expect=[Status.QUEUED],
                    outbox_at=None,
                )
        self.store.update_run(
            job.name,
            run.run_id,
            {"status": Status.QUEUED, "reason": f"waiting for {state.active_run_id}"},
            outbox_at=None,
        )
        count("RunsQueued")
        return Outcome(job.name, run.run_id, "queued", reason=f"waiting for {state.active_run_id}")

    # --- Batch ----------------------------------------------------------------------------
    def _submit(self, job: Job, run: Run) -> Outcome:
        spec = self.spec(job, run)
        try:
            self.check_overrides(job)  # re-drives and retries too, not only new triggers
            batch_job_id = self.batch.submit(spec)
        except (BatchUnavailableError, OverrideNotAllowedError) as exc:
            return self._submit_failed(job, run, str(exc))
        now = self.clock()
        alert_pending = run.alert is not None and run.alert.state == "pending"
        self._record_submitted(
            job,
            run,
            {"batch_job_id": batch_job_id, "job_queue": spec.queue, "submitted_at": iso(now)},
            outbox_at=now if alert_pending else None,
        )
        self._activate(job, run, batch_job_id)
        count("RunsSubmitted")
        logger.info(
            "run submitted",
            job=job.name,
            run_id=run.run_id,
            trigger=run.trigger,
            batch_job_id=batch_job_id,
        )
        return Outcome(job.name, run.run_id, "submitted", batch_job_id=batch_job_id)

    def adopt(self, job: Job, run: Run, batch_job_id: str, queue: str) -> None:
        """Record a Batch job that was submitted for `run` before a crash lost the answer."""
        self._record_submitted(
            job, run, {"batch_job_id": batch_job_id, "job_queue": queue}, outbox_at=None
        )
        self._activate(job, run, batch_job_id)

    def _record_submitted(
        self, job: Job, run: Run, changes: dict[str, object], *, outbox_at: datetime | None
    ) -> None:
        """Mark the run SUBMITTED, unless a Batch state change event was recorded on it first
        (events can beat this write): then keep the event's newer status. A pending alert
        keeps it in the alert queue."""
        try:
            self.store.update_run(
                job.name,
                run.run_id,
                {**changes, "status": Status.SUBMITTED, "reason": None},
                outbox_at=outbox_at,
                queue=ALERTS,
                condition="attribute_not_exists(#order) OR #order = :no_event",
                values={":no_event": 0},
            )
        except ConflictError:
            self.store.update_run(job.name, run.run_id, changes, outbox_at=False)

    def _activate(self, job: Job, run: Run, batch_job_id: str) -> None:
        # A conflict means the run already ended (its terminal event came first) or, with
        # `allow`, a newer run became the active one: nothing to mark.
        with contextlib.suppress(ConflictError):
            self.store.update_job_state(
                job.name,
                {"active_batch_job_id": batch_job_id, "last_run_id": run.run_id},
                condition="#active_run_id = :run",
                values={":run": run.run_id},
            )

    def _submit_failed(self, job: Job, run: Run, error: str) -> Outcome:
        """Record the failure; scheduled runs are retried by later ticks until their deadline."""
        now = self.clock()
        error = bound_text(error) or ""
        retry = run.deadline is not None
        alert = Alert(kind="submit_failed", created_at=iso(now)) if job.notify.enabled else None
        # Tell the alert path once, on the first failure of this run.
        first = run.status != Status.SUBMIT_FAILED
        changes: dict[str, object] = {"status": Status.SUBMIT_FAILED, "reason": error}
        if alert and first:
            changes["alert"] = alert.model_dump(exclude_none=True)
        self.store.update_run(
            job.name,
            run.run_id,
            changes,
            outbox_at=now if (retry or (alert and first)) else None,
            queue=OUTBOX if retry else ALERTS,
        )
        self._release(job, run)
        count("RunsSubmitFailed")
        logger.error("submit failed", job=job.name, run_id=run.run_id, error=error)
        if alert and first:
            self._alert(
                run.model_copy(
                    update={"status": Status.SUBMIT_FAILED, "reason": error, "alert": alert}
                )
            )
        return Outcome(job.name, run.run_id, "failed", reason=error)

    def _release(self, job: Job, run: Run) -> None:
        with contextlib.suppress(ConflictError):
            self.store.update_job_state(
                job.name,
                {"active_run_id": None, "active_batch_job_id": None, "active_since": None},
                condition="#active_run_id = :run",
                values={":run": run.run_id},
            )

    def _finish_unstarted(self, run: Run, status: Status, reason: str, alert: Alert | None) -> None:
        changes: dict[str, object] = {"status": status, "reason": reason}
        if alert is not None:
            changes["alert"] = alert.model_dump(exclude_none=True)
        self.store.update_run(
            run.job, run.run_id, changes, outbox_at=self.clock() if alert else None, queue=ALERTS
        )
        if alert is not None:
            self._alert(run.model_copy(update={"status": status, "reason": reason, "alert": alert}))

    def miss(self, job: Job, run: Run, reason: str, *, alert: bool = True) -> None:
        """Record a run that will not start (past its starting deadline)."""
        note = (
            Alert(kind="missed", created_at=iso(self.clock()))
            if alert and job.notify.enabled
            else None
        )
        self._finish_unstarted(run, Status.MISSED, reason, note)
        count("RunsMissed")

    def _alert(self, run: Run) -> None:
        if self.on_alert is not None:
            try:
                self.on_alert(run)
            except Exception:  # the outbox keeps it; the next tick retries
                logger.exception("alert not delivered yet", job=run.job, run_id=run.run_id)

    # --- SubmitJob request ------------------------------------------------------------------
    def check_overrides(self, job: Job) -> None:
        """OverrideNotAllowedError unless the job's queue and definition are ones the stack
        allows (a definition entry `…:job-definition/NAME:*` allows every revision of NAME)."""
        if job.job_queue and job.job_queue not in self.settings.allowed_job_queues:
            raise OverrideNotAllowedError(
                f"job {job.name!r}: job_queue {job.job_queue} is not one the stack allows "
                "(add it to the ExtraJobQueueArns parameter)"
            )
        if job.job_definition and not definition_allowed(
            job.job_definition, self.settings.allowed_job_definitions
        ):
            raise OverrideNotAllowedError(
                f"job {job.name!r}: job_definition {job.job_definition} is not one the stack "
                "allows (add it to the ExtraJobDefinitionArns parameter)"
            )

    def spec(self, job: Job, run: Run) -> JobSpec:
        environment = dict(job.environment)
        environment.update(
            {
                "REPOSITORY": job.repository_name,
                "GITHUB_ORG": job.owner,
                "BATCH_FILE_URL": job.batch_file_url,
                "BATCHCRON_JOB": job.name,
                "BATCHCRON_RUN_ID": run.run_id,
            }
        )
        if job.script_sha256:
            environment["BATCH_FILE_SHA256"] = job.script_sha256
        if run.git_ref:
            environment["GIT_REF"] = run.git_ref
        if run.upstream_runs:
            environment["BATCHCRON_UPSTREAM_RUNS"] = ",".join(run.upstream_runs)
        return JobSpec(
            name=run.run_id,
            queue=job.job_queue or self.settings.job_queue,
            definition=job.job_definition or self.settings.job_definition,
            environment=environment,
            vcpus=job.vcpus,
            memory_mib=job.memory_mib,
            timeout_minutes=job.timeout_minutes,
            attempts=job.attempts,
            tags=self._tags(job, run),
        )

    def _tags(self, job: Job, run: Run) -> dict[str, str]:
        tags = {
            "batchcron:job": job.name,
            "batchcron:trigger": run.trigger,
            "batchcron:run-id": run.run_id,
        }
        if self.settings.stack_name:
            # The functions may tag and terminate only jobs with their own stack's tag.
            tags[STACK_TAG] = self.settings.stack_name
        return tags
