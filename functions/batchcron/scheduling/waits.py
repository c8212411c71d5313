"""The watchdog for `after:` waits, run by the dispatcher's tick: a downstream job that has
waited longer than its `after.max_wait` gets one alert saying what it waits for, and one
"started" follow-up when its cycle's run starts.

Once per job and cycle however many ticks see it (store/checks.py, kind `wait`, a conditional
put); the job's state names the alerted cycle (`wait_cycle`), so a tick costs one BatchGetItem
of the `after:` jobs' and their upstreams' states, and writes only when a wait becomes overdue
or ends. One job's failure is logged and the others go on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from batchcron.catalogue.model import Catalogue, Job
from batchcron.catalogue.upstream import (
    Overdue,
    also_waiting,
    cycle_key,
    overdue_wait,
    upstream_names,
    with_after,
)
from batchcron.models import JobState, iso, parse_time, utcnow
from batchcron.observability import count, logger
from batchcron.store import checks
from batchcron.store.items import ConflictError
from batchcron.store.runs import RunStore

KIND = "wait"

# Sends one line to the job's alert channel; True when it was sent (or there is nowhere to
# send it), raises when the channel did not take it (tried again by the next tick).
Notice = Callable[[Job, str], bool]


@dataclass
class WaitsResult:
    overdue: int = 0
    alerted: int = 0
    followed_up: int = 0
    failed: int = 0


class Waits:
    def __init__(
        self,
        catalogue: Catalogue,
        store: RunStore,
        notice: Notice | None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.notice = notice
        self.clock = clock

    def check(self) -> WaitsResult:
        result = WaitsResult()
        jobs = [job for job in with_after(self.catalogue) if job.after and job.after.max_wait]
        if not jobs:
            return result
        states = self.store.job_states(upstream_names(with_after(self.catalogue)))
        now = self.clock()
        for job in jobs:
            try:
                self._one(job, states, now, result)
            except Exception:  # one job's fault stays with that job
                result.failed += 1
                count("WaitChecksFailed")
                logger.exception("could not check the job's wait", job=job.name)
        return result

    def _one(
        self, job: Job, states: dict[str, JobState], now: datetime, result: WaitsResult
    ) -> None:
        state = states[job.name]
        if state.wait_cycle and state.wait_cycle != cycle_key(state):
            self._started(job, state)  # its cycle's run started: the wait is over
            state = state.model_copy(update={"wait_cycle": None, "wait_alert": None})
        overdue = overdue_wait(job, states, now)
        if overdue is None:
            return
        result.overdue += 1
        if state.wait_cycle == overdue.cycle:
            if state.wait_alert == "pending":  # Slack did not take it last time
                self._send(job, overdue.cycle, self._text(overdue, states, now), result)
            return
        text = self._text(overdue, states, now)
        fired = checks.mark(
            self.store,
            job.name,
            KIND,
            overdue.cycle,
            {"text": text, "waiting_since": iso(overdue.since)},
        )
        self.store.update_job_state(
            job.name,
            {"wait_cycle": overdue.cycle, "wait_alert": "pending" if fired else "sent"},
        )
        logger.warning("wait overdue", job=job.name, cycle=overdue.cycle, text=text, alert=fired)
        if fired:
            count("WaitsOverdue")
            self._send(job, overdue.cycle, text, result)

    def _text(self, overdue: Overdue, states: dict[str, JobState], now: datetime) -> str:
        return overdue.text(now, also_waiting(self.catalogue, overdue, states, now))

    def _send(self, job: Job, cycle: str, text: str, result: WaitsResult) -> None:
        if self.notice is None or not self.notice(job, f":hourglass: {text}"):
            return
        result.alerted += 1
        with contextlib.suppress(ConflictError):  # the wait ended meanwhile
            self.store.update_job_state(
                job.name,
                {"wait_alert": "sent"},
                condition="#wait_cycle = :cycle",
                values={":cycle": cycle},
            )

    def _started(self, job: Job, state: JobState) -> None:
        """The one "started" follow-up of an alerted wait, then the state forgets it."""
        cycle = state.wait_cycle or ""
        item = checks.get(self.store, job.name, KIND, cycle) or {}
        run_id = state.upstream_run_id or "a run"
        waited = ""
        since = item.get("waiting_since")
        if since and state.upstream_since:
            minutes = int((parse_time(state.upstream_since) - parse_time(since)).total_seconds())
            minutes //= 60
            waited = (
                f" after waiting {minutes // 60} h"
                if minutes >= 60
                else f" after waiting {minutes} min"
            )
        if checks.follow_up(self.store, job.name, KIND, cycle, {"run_id": run_id}):
            logger.info("overdue wait ended", job=job.name, cycle=cycle, run_id=run_id)
            if self.notice is not None:
                try:
                    self.notice(job, f":arrow_forward: {job.name} started {run_id}{waited}")
                except Exception:  # the follow-up is recorded; only its message is lost
                    logger.exception("wait follow-up not delivered", job=job.name)
        with contextlib.suppress(ConflictError):
            self.store.update_job_state(
                job.name,
                {"wait_cycle": None, "wait_alert": None},
                condition="#wait_cycle = :cycle",
                values={":cycle": cycle},
            )
