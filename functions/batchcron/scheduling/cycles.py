"""Starts `after:` jobs whose cycle is complete, through the one submit path (trigger
`upstream`). Called by the job-state path when an upstream run's outcome is recorded (Lambda and
local mode alike), and by the dispatcher's tick for every job with `after:` so a lost event or a
crash never loses a cycle.

Exactly once per cycle: the cycle is claimed by a conditional write on the downstream job's
state (`cycle_store.claim_cycle`) before anything is submitted. Cost: one BatchGetItem of the
jobs' and their upstreams' states, plus two writes and the submit for each cycle started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from batchcron.catalogue.model import Catalogue, Job
from batchcron.catalogue.upstream import (
    decide_from_states,
    downstream_of,
    upstream_names,
    with_after,
)
from batchcron.models import JobState, bound_text, iso, utcnow
from batchcron.observability import count, logger
from batchcron.scheduling.submit import Outcome, Request, Submitter, run_name
from batchcron.store.cycles import claim_cycle, finish_cycle_start
from batchcron.store.items import ConflictError
from batchcron.store.runs import RunStore

CLAIM_TRIES = 3


class Cycles:
    def __init__(
        self,
        catalogue: Catalogue,
        store: RunStore,
        submitter: Callable[[], Submitter],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self._submitter = submitter
        self.clock = clock

    def after_outcome(self, upstream: str) -> list[Outcome]:
        """An outcome of `upstream` was recorded: start the jobs after it whose cycle it
        completed. Costs nothing for a job nobody runs after."""
        jobs = downstream_of(self.catalogue, upstream)
        return self.check(jobs) if jobs else []

    def recheck(self) -> list[Outcome]:
        """Every job with `after:` (the dispatcher's tick)."""
        jobs = with_after(self.catalogue)
        return self.check(jobs) if jobs else []

    def check(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Start each job whose cycle is complete. One job's failure does not stop the others
        (it is logged; the next tick tries again)."""
        states = self.store.job_states(upstream_names(jobs))
        outcomes: list[Outcome] = []
        for job in jobs:
            try:
                outcome = self._one(job, states)
            except Exception:
                logger.exception("could not check the job's upstream cycle", job=job.name)
                count("UpstreamChecksFailed")
                continue
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _one(self, job: Job, states: dict[str, JobState]) -> Outcome | None:
        state = states[job.name]
        if state.upstream_start:
            # A cycle was claimed but its run may never have reached the submit path. Not while
            # the job is paused: the claimed cycle starts its one run on resume.
            if state.paused:
                return None
            return self._start(job, state.upstream_start, list(state.upstream_runs), state)
        for _ in range(CLAIM_TRIES):
            if state.paused:
                return None
            now = self.clock()
            cycle = decide_from_states(job, states, now)
            if not cycle.complete:
                return None
            run_id = run_name(job.name, now, precise=True)
            try:
                claimed = claim_cycle(
                    self.store,
                    job.name,
                    seen_since=state.upstream_since,
                    run_id=run_id,
                    started_at=iso(now) or "",
                    upstream_runs=cycle.runs,
                    upstream_finished=cycle.finished(),
                )
            except ConflictError:
                # Another invocation started this cycle (or the job was paused): look again at
                # the job and its upstreams, since an upstream run may have finished after it
                # began the next one, and what this invocation read of them may be older.
                states.update(self.store.job_states(upstream_names([job])))
                state = states[job.name]
                continue
            logger.info(
                "upstream cycle complete", job=job.name, run_id=run_id, upstream_runs=cycle.runs
            )
            return self._start(job, run_id, list(cycle.runs), claimed)
        return None

    def _start(self, job: Job, run_id: str, upstream_runs: list[str], state: JobState) -> Outcome:
        now = self.clock()
        request = Request(
            job=job,
            trigger="upstream",
            run_id=run_id,
            deadline=now + timedelta(minutes=job.starting_deadline_minutes),
            upstream_runs=upstream_runs,
        )
        submitter = self._submitter()
        try:
            outcome = submitter.trigger(request, state)
        except Exception as exc:
            # Whatever stops the start (a queue or definition the stack does not allow, Batch,
            # a store error) becomes the cycle's run, SUBMIT_FAILED with one alert and retried
            # by the tick until its deadline, as a scheduled run's would: never a claimed cycle
            # that nothing records. When even that cannot be written, `upstream_start` stays
            # set and the next tick tries again.
            logger.exception("upstream start failed", job=job.name, run_id=run_id)
            outcome = submitter.fail(request, bound_text(f"{type(exc).__name__}: {exc}") or "")
        finish_cycle_start(self.store, job.name, run_id)
        count("UpstreamRunsTriggered")
        return outcome
