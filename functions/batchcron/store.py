"""The run store: one DynamoDB table (single-table design; see docs/run-store.md).

Items
- run            pk=JOB#<job>  sk=RUN#<run id>   gsi1pk=RUN   gsi1sk=<created>#<run id>
- job state      pk=JOB#<job>  sk=STATE          gsi1pk=STATE gsi1sk=<job>
- watermark      pk=META       sk=WATERMARK
- delivery       pk=DELIVERY#<hook>#<delivery id>  sk=DELIVERY   (webhook dedup, TTL;
- delivery body  pk=DELIVERYBODY#<sha256>          sk=DELIVERY    see store_deliveries.py)
Indexes: ByTime (gsi1pk, gsi1sk), ByBatchJobId (batch_job_id), Outbox (outbox_pk, outbox_sk):
runs with work left for a later tick, in two queues so a backlog of alerts never delays a
re-drive: outbox_pk=TODO (re-drive a claim, retry a submit; an alert on it is sent after) and
outbox_pk=ALERT (only an alert to send, sorted by its next attempt time).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from batchcron import aws
from batchcron.ddb import ConflictError, _de, _plain, _ser
from batchcron.models import Alert, JobState, Run, iso, utcnow

# Public names that moved with the delivery records (`from batchcron.store import ...` works).
from batchcron.store_deliveries import DELIVERY_TTL as DELIVERY_TTL
from batchcron.store_deliveries import DeliveryRecords
from batchcron.store_deliveries import delivery_key as delivery_key

RUN_TTL = timedelta(days=400)
OUTBOX = "TODO"  # claims to re-drive, submits to retry
ALERTS = "ALERT"  # runs whose only work left is an alert to send


# --- keys ------------------------------------------------------------------------------


def run_key(job: str, run_id: str) -> dict[str, str]:
    return {"pk": f"JOB#{job}", "sk": f"RUN#{run_id}"}


def state_key(job: str) -> dict[str, str]:
    return {"pk": f"JOB#{job}", "sk": "STATE"}


WATERMARK_KEY = {"pk": "META", "sk": "WATERMARK"}


class RunStore(DeliveryRecords):
    """Reads and conditional writes on the runs table."""

    def __init__(self, table: str, client: Any | None = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.dynamodb()
        return self._client

    # --- generic helpers ---------------------------------------------------------------
    def _update(
        self,
        key: Mapping[str, str],
        *,
        set_: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        add: Mapping[str, int] | None = None,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        return_new: bool = False,
    ) -> dict[str, Any] | None:
        """UpdateItem: SET (None values become REMOVE), REMOVE, ADD; raise ConflictError when
        the condition fails."""
        names: dict[str, str] = {}
        vals: dict[str, Any] = dict(values or {})
        sets, removes, adds = [], [], []
        for i, (field, value) in enumerate((set_ or {}).items()):
            names[f"#s{i}"] = field
            if value is None:
                removes.append(f"#s{i}")
            else:
                sets.append(f"#s{i} = :s{i}")
                vals[f":s{i}"] = value
        for i, field in enumerate(remove):
            names[f"#r{i}"] = field
            removes.append(f"#r{i}")
        for i, (field, amount) in enumerate((add or {}).items()):
            names[f"#a{i}"] = field
            adds.append(f"#a{i} :a{i}")
            vals[f":a{i}"] = amount
        clauses = []
        if sets:
            clauses.append("SET " + ", ".join(sets))
        if removes:
            clauses.append("REMOVE " + ", ".join(removes))
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": _ser(key),
            "UpdateExpression": " ".join(clauses),
        }
        if condition:
            request["ConditionExpression"] = condition
            names.update({f"#{n}": n for n in _condition_names(condition)})
        if names:
            request["ExpressionAttributeNames"] = names
        if vals:
            request["ExpressionAttributeValues"] = _ser(vals)
        if return_new:
            request["ReturnValues"] = "ALL_NEW"
        try:
            response = self.client.update_item(**request)
        except self.client.exceptions.ConditionalCheckFailedException:
            raise ConflictError(f"conditional update of {dict(key)} failed") from None
        return _de(response["Attributes"]) if return_new else None

    def _put_new(self, item: Mapping[str, Any]) -> bool:
        """PutItem unless the key exists. True when this call created it."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=_ser(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _get(self, key: Mapping[str, str], consistent: bool = True) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table, Key=_ser(key), ConsistentRead=consistent
        )
        item = response.get("Item")
        return _de(item) if item else None

    def _query(self, limit: int | None = None, **request: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request = {"TableName": self.table, **request}
        while True:
            if limit is not None:
                request["Limit"] = max(limit - len(items), 1)
            response = self.client.query(**request)
            items.extend(_de(item) for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items
            request["ExclusiveStartKey"] = start

    # --- runs ----------------------------------------------------------------------------
    def claim_run(self, run: Run, *, outbox_at: datetime | None = None) -> bool:
        """Create a run item unless it exists (the exactly-once claim). True when created."""
        return self._put_new(run_item(run, outbox_at=outbox_at))

    def update_run(
        self,
        job: str,
        run_id: str,
        changes: Mapping[str, Any],
        *,
        expect: Iterable[str] | None = None,
        outbox_at: datetime | bool | None = False,
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
        return_new: bool = False,
        queue: str = OUTBOX,
    ) -> dict[str, Any] | None:
        """Change a run. `expect`: statuses it must be in. `outbox_at`: a datetime puts the run
        in the outbox `queue` (sorted by it), None takes it out, False leaves it."""
        fields = {key: _plain(value) for key, value in changes.items()}
        if outbox_at is None:
            fields.update({"outbox_pk": None, "outbox_sk": None})
        elif isinstance(outbox_at, datetime):
            fields.update({"outbox_pk": queue, "outbox_sk": f"{iso(outbox_at)}#{run_id}"})
        conditions = ["attribute_exists(pk)"]
        vals = dict(values or {})
        if expect is not None:
            wanted = list(expect)
            placeholders = []
            for i, status in enumerate(wanted):
                vals[f":e{i}"] = status
                placeholders.append(f":e{i}")
            conditions.append(f"#status IN ({', '.join(placeholders)})")
        if condition:
            conditions.append(f"({condition})")
        return self._update(
            run_key(job, run_id),
            set_=fields,
            condition=" AND ".join(conditions),
            values=vals,
            return_new=return_new,
        )

    def get_run(self, job: str, run_id: str) -> Run | None:
        item = self._get(run_key(job, run_id))
        return Run.model_validate(item) if item else None

    def runs_for_job(self, job: str, limit: int = 20) -> list[Run]:
        """Runs of one job, newest first."""
        items = self._query(
            limit=limit,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
            ExpressionAttributeValues=_ser({":pk": f"JOB#{job}", ":run": "RUN#"}),
            ScanIndexForward=False,
        )
        return [Run.model_validate(item) for item in items]

    def recent_runs(self, limit: int = 20) -> list[Run]:
        """Runs of every job, newest first."""
        items = self._query(
            limit=limit,
            IndexName="ByTime",
            KeyConditionExpression="gsi1pk = :run",
            ExpressionAttributeValues=_ser({":run": "RUN"}),
            ScanIndexForward=False,
        )
        return [Run.model_validate(item) for item in items]

    def run_by_batch_job_id(self, batch_job_id: str) -> Run | None:
        items = self._query(
            limit=1,
            IndexName="ByBatchJobId",
            KeyConditionExpression="batch_job_id = :id",
            ExpressionAttributeValues=_ser({":id": batch_job_id}),
        )
        return Run.model_validate(items[0]) if items else None

    def outbox(
        self, until: datetime | None = None, limit: int = 200, *, queue: str = OUTBOX
    ) -> list[Run]:
        """Runs with work left, oldest first: claims to re-drive and submits to retry
        (`OUTBOX`), or alerts to send (`ALERTS`)."""
        values: dict[str, Any] = {":todo": queue}
        condition = "outbox_pk = :todo"
        if until is not None:
            condition += " AND outbox_sk <= :until"
            values[":until"] = f"{iso(until)}#~"
        items = self._query(
            limit=limit,
            IndexName="Outbox",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=_ser(values),
        )
        return [Run.model_validate(item) for item in items]

    # --- job state -------------------------------------------------------------------------
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
        fields = {"job": job, "gsi1pk": "STATE", "gsi1sk": job}
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

    # --- watermark -------------------------------------------------------------------------
    def watermark(self) -> datetime | None:
        from batchcron.models import parse_time

        item = self._get(WATERMARK_KEY)
        return parse_time(item["at"]) if item else None

    def advance_watermark(self, to: datetime) -> bool:
        """Move the watermark forward to `to` (never back). False if it was already past."""
        try:
            self._update(
                WATERMARK_KEY,
                set_={"at": iso(to)},
                condition="attribute_not_exists(#at) OR #at < :to",
                values={":to": iso(to)},
            )
        except ConflictError:
            return False
        return True

    # --- job state changes -------------------------------------------------------------------
    # Used by batchcron.outcomes: Batch events applied to runs in order, each run's outcome
    # counted once in its job's state, and the alert a run's outcome calls for.
    def apply_batch_event(
        self,
        job: str,
        run_id: str,
        *,
        order: int,
        fields: Mapping[str, Any],
        defaults: Mapping[str, Any],
    ) -> tuple[dict[str, Any], bool]:
        """One Batch event on its run, in one conditional UpdateItem: SET `fields` (None =
        REMOVE) and `order` when `order` is greater than the recorded one; `defaults` only
        where the item has none (runs batchcron did not create). Returns (the item after, True),
        or (the item as it is, False) when the event is older or a duplicate."""
        names: dict[str, str] = {"#order": "order"}
        values: dict[str, Any] = {":order": order}
        sets, removes = ["#order = :order"], []
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            else:
                sets.append(f"#f{i} = :f{i}")
                values[f":f{i}"] = _plain(value)
        created = dict(defaults)
        created.update(
            {
                "gsi1pk": "RUN",
                "gsi1sk": f"{defaults.get('created_at', '')}#{run_id}",
                "expires_at": int((utcnow() + RUN_TTL).timestamp()),
            }
        )
        for i, (name, value) in enumerate(created.items()):
            if name in fields or value is None:
                continue
            names[f"#d{i}"] = name
            values[f":d{i}"] = _plain(value)
            sets.append(f"#d{i} = if_not_exists(#d{i}, :d{i})")
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=_ser(run_key(job, run_id)),
                UpdateExpression=expression,
                ConditionExpression="attribute_not_exists(#order) OR #order < :order",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_ser(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item")
            return (_de(item) if item else {}), False
        return _de(response["Attributes"]), True

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
        A `neutral` outcome (a cancelled run) leaves the streak and last success/failure alone.
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
            ":job": job,
            ":state": "STATE",
            ":run": run_id,
            ":zero": 0,
            ":status": status,
            ":at": finished_at,
        }
        sets = [
            "#job = :job",
            "#gsi1pk = :state",
            "#gsi1sk = :job",
            "#counted = :run",
            "#before = if_not_exists(#failures, :zero)",
            "#last_run = :run",
            "#last_status = :status",
            "#last_finished = :at",
        ]
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
            expression = "SET " + ", ".join(sets)
            condition = once
            attribute_names = dict(names)
            if clear_active:
                expression += " REMOVE #active, #active_job, #active_since"
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

    def claim_alert(self, job: str, run_id: str, alert: Alert, *, outbox_at: datetime) -> bool:
        """Put a pending alert on a run (and the run in the outbox) unless it has an outcome
        alert already: whoever claims it sends it first. False when it was claimed before."""
        try:
            self.update_run(
                job,
                run_id,
                {"alert": alert.model_dump(exclude_none=True)},
                outbox_at=outbox_at,
                queue=ALERTS,
                condition="attribute_not_exists(#alert) OR #alert.#kind = :superseded",
                values={":superseded": "submit_failed"},
            )
        except ConflictError:
            return False
        return True

    def finish_alert(self, job: str, run_id: str, alert: Alert, *, keep_in_outbox: bool) -> bool:
        """Record a pending alert as sent (or skipped), unless someone else did. The run leaves
        the outbox unless it has other work there. False when it was not pending any more."""
        try:
            self.update_run(
                job,
                run_id,
                {"alert": alert.model_dump(exclude_none=True)},
                outbox_at=False if keep_in_outbox else None,
                condition="#alert.#state = :pending AND #alert.#kind = :kind",
                values={":pending": "pending", ":kind": alert.kind},
            )
        except ConflictError:
            return False
        return True

    def defer_alert(
        self, job: str, run_id: str, alert: Alert, *, until: datetime, keep_in_outbox: bool
    ) -> bool:
        """Record a delivery Slack did not take (still pending, next attempt at `until`); the run
        moves back in the alert queue unless it has other outbox work. False when the alert
        was not pending any more."""
        try:
            self.update_run(
                job,
                run_id,
                {"alert": alert.model_dump(exclude_none=True)},
                outbox_at=False if keep_in_outbox else until,
                queue=ALERTS,
                condition="#alert.#state = :pending AND #alert.#kind = :kind",
                values={":pending": "pending", ":kind": alert.kind},
            )
        except ConflictError:
            return False
        return True

    def rewind_watermark(self, to: datetime) -> None:
        """Set the watermark back to `to` (it had passed the clock)."""
        self._update(WATERMARK_KEY, set_={"at": iso(to)})

    def leave_outbox(self, job: str, run_id: str) -> None:
        """Take a run out of the outbox unless an alert on it is still pending."""
        with contextlib.suppress(ConflictError):
            self.update_run(
                job,
                run_id,
                {},
                outbox_at=None,
                condition="attribute_not_exists(#alert) OR #alert.#state <> :pending",
                values={":pending": "pending"},
            )

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


def run_item(run: Run, *, outbox_at: datetime | None = None) -> dict[str, Any]:
    """The DynamoDB item for a run."""
    item = run.model_dump(exclude_none=True, mode="json")
    item.update(run_key(run.job, run.run_id))
    item.update({"gsi1pk": "RUN", "gsi1sk": f"{run.created_at}#{run.run_id}"})
    item["expires_at"] = int((utcnow() + RUN_TTL).timestamp())
    if outbox_at is not None:
        item.update({"outbox_pk": OUTBOX, "outbox_sk": f"{iso(outbox_at)}#{run.run_id}"})
    return item


def _condition_names(condition: str) -> set[str]:
    """Attribute names used as #name in a condition expression."""
    import re

    found = set(re.findall(r"#([A-Za-z_][A-Za-z0-9_]*)", condition))
    return found - set(re.findall(r"#([sra]\d+)", condition))
