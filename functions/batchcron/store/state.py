"""Job state in the run store: one item per job (pk=JOB#<job>, sk=STATE, gsi1pk=STATE,
gsi1sk=<job>) with the pause flag, the overlap guard, the failure streak and the `after:` cycle;
see docs/run-store.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchcron.models import JobState
from batchcron.store.items import ConflictError, _de, _plain, _ser
from batchcron.store.table import Table


def state_key(job: str) -> dict[str, str]:
    return {"pk": f"JOB#{job}", "sk": "STATE"}


class JobStates(Table):
    """The job-state part of RunStore."""

    def job_state(self, job: str) -> JobState:
        item = self._get(state_key(job))
        return _state(item) if item else JobState(job=job)

    def job_states(self, jobs: Sequence[str]) -> dict[str, JobState]:
        """States of the named jobs (BatchGetItem, 100 at a time); missing ones are fresh."""
        found = {job: JobState(job=job) for job in jobs}
        names = list(dict.fromkeys(jobs))
        for start in range(0, len(names), 100):
            keys = [_ser(state_key(job)) for job in names[start : start + 100]]
            request = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    state = _state(_de(item))
                    found[state.job] = state
                request = response.get("UnprocessedKeys") or {}
        return found

    def all_job_states(self) -> list[JobState]:
        """The latest state of every job that has one (one query)."""
        items = self._query(
            IndexName="ByTime",
            KeyConditionExpression="gsi1pk = :state",
            ExpressionAttributeValues=_ser({":state": "STATE"}),
        )
        return [_state(item) for item in items]

    def update_job_state(
        self,
        job: str,
        changes: Mapping[str, Any] | None = None,
        *,
        add: Mapping[str, int] | None = None,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> JobState:
        """Upsert a job's state; returns the new state. ConflictError when `condition` fails."""
        # No `job` attribute: the ByJobTime index (job, gsi1sk) holds runs only. Set to None it
        # is removed from items written before that.
        fields = {"job": None, "gsi1pk": "STATE", "gsi1sk": job}
        fields.update({key: _plain(value) for key, value in (changes or {}).items()})
        item = self._update(
            state_key(job),
            set_=fields,
            add=add,
            condition=condition,
            values=values,
            return_new=True,
        )
        return _state(item or {"pk": f"JOB#{job}"})

    def settle_outcome(
        self,
        job: str,
        run_id: str,
        *,
        failed: bool,
        finished_at: str,
        status: str,
        neutral: bool = False,
    ) -> Settlement:
        """Count a run's terminal status in its job's state, once per run (failure streak,
        last success/failure), and release the overlap guard when the run is the active one.
        A `neutral` outcome (a cancelled run) leaves the streak, last success/failure and the
        outcome `after:` jobs read (`last_outcome_*`) alone.
        One UpdateItem when the run is the active one (or was counted already), two otherwise."""
        names = {
            "#job": "job",
            "#gsi1pk": "gsi1pk",
            "#gsi1sk": "gsi1sk",
            "#counted": "last_counted_run_id",
            "#before": "last_failures_before",
            "#failures": "consecutive_failures",
            "#last_run": "last_run_id",
            "#last_status": "last_status",
            "#last_finished": "last_finished_at",
            "#outcome_at": "last_failure_at" if failed else "last_success_at",
        }
        values: dict[str, Any] = {
            ":job": job,  # gsi1sk
            ":state": "STATE",
            ":run": run_id,
            ":zero": 0,
            ":status": status,
            ":at": finished_at,
        }
        sets = [
            "#gsi1pk = :state",
            "#gsi1sk = :job",
            "#counted = :run",
            "#before = if_not_exists(#failures, :zero)",
            "#last_run = :run",
            "#last_status = :status",
            "#last_finished = :at",
        ]
        if not neutral:
            # What `after:` jobs read (catalogue.upstream.latest_finished): never a cancel.
            names.update(
                {
                    "#outcome_run": "last_outcome_run_id",
                    "#outcome_status": "last_outcome_status",
                    "#outcome_finished": "last_outcome_at",
                }
            )
            sets += ["#outcome_run = :run", "#outcome_status = :status", "#outcome_finished = :at"]
        if neutral:
            del names["#outcome_at"]
        elif failed:
            sets += ["#outcome_at = :at", "#failures = if_not_exists(#failures, :zero) + :one"]
            values[":one"] = 1
        else:
            sets += ["#outcome_at = :at", "#failures = :zero"]
        # Once per run, and never for a run that finished before the last one counted: a late
        # duplicate of an older run's terminal event must not rewind the streak.
        once = (
            "(attribute_not_exists(#counted) OR #counted <> :run)"
            " AND (attribute_not_exists(#last_finished) OR #last_finished <= :at)"
        )
        release = {"#active": "active_run_id", "#active_job": "active_batch_job_id"}
        release["#active_since"] = "active_since"

        def attempt(clear_active: bool) -> dict[str, Any]:
            # REMOVE #job: the ByJobTime index holds runs only (items from before lose it).
            expression = "SET " + ", ".join(sets) + " REMOVE #job"
            condition = once
            attribute_names = dict(names)
            if clear_active:
                expression += ", #active, #active_job, #active_since"
                condition += " AND #active = :run"
                attribute_names.update(release)
            response = self.client.update_item(
                TableName=self.table,
                Key=_ser(state_key(job)),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=attribute_names,
                ExpressionAttributeValues=_ser(values),
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return _de(response.get("Attributes") or {})

        failed_check = self.client.exceptions.ConditionalCheckFailedException
        try:
            return Settlement(counted=True, released=True, state=attempt(clear_active=True))
        except failed_check as exc:
            current = _de(exc.response.get("Item") or {})
        if current.get("last_counted_run_id") == run_id:
            return Settlement(counted=False, released=False, state=current)
        try:
            return Settlement(counted=True, released=False, state=attempt(clear_active=False))
        except failed_check as exc:  # counted by a concurrent delivery of the same event
            current = _de(exc.response.get("Item") or {})
            return Settlement(counted=False, released=False, state=current)

    def mark_active_if_idle(self, job: str, run_id: str, batch_job_id: str, since: str) -> bool:
        """Make a run batchcron did not submit the job's active run, when none is (so it
        counts for the overlap guard). False when another run is active."""
        try:
            self.update_job_state(
                job,
                {
                    "active_run_id": run_id,
                    "active_batch_job_id": batch_job_id,
                    "active_since": since,
                },
                condition="attribute_not_exists(#active_run_id) OR #active_run_id = :run",
                values={":run": run_id},
            )
        except ConflictError:
            return False
        return True


@dataclass(frozen=True)
class Settlement:
    """The result of counting a run's outcome: `counted` now (False: counted before), whether
    this released the job's overlap guard, and the job state before the count (or as it is
    now, when not counted)."""

    counted: bool
    released: bool
    state: dict[str, Any]

    def job_state(self, job: str) -> JobState:
        if not self.state:
            return JobState(job=job)
        return JobState.model_validate({**self.state, "job": job})

    @property
    def failures_before(self) -> int:
        """The failure streak before this run's outcome."""
        key = "consecutive_failures" if self.counted else "last_failures_before"
        return int(self.state.get(key) or 0)


def _state(item: Mapping[str, Any]) -> JobState:
    """A job state from its item (the job name comes from the key)."""
    return JobState.model_validate({**item, "job": str(item["pk"]).removeprefix("JOB#")})
