"""The run store: one DynamoDB table (single-table design; see docs/run-store.md).

Items
- run            pk=JOB#<job>  sk=RUN#<run id>   gsi1pk=RUN   gsi1sk=<created>#<run id>, job
- job state      pk=JOB#<job>  sk=STATE          gsi1pk=STATE gsi1sk=<job>   (state.py)
- newest runs    pk=JOB#<job>  sk=RECENT         gsi1pk=RECENT gsi1sk=<job>  (recent.py)
- watermark      pk=META       sk=WATERMARK
- delivery       pk=DELIVERY#<hook>#<delivery id>  sk=DELIVERY   (webhook dedup, TTL;
- delivery body  pk=DELIVERYBODY#<sha256>          sk=DELIVERY    see deliveries.py)
Indexes: ByTime (gsi1pk, gsi1sk), ByJobTime (job, gsi1sk: one job's runs by time; sparse,
only run items carry `job`),
ByBatchJobId (batch_job_id), Outbox (outbox_pk, outbox_sk):
runs with work left for a later tick, in two queues so a backlog of alerts never delays a
re-drive: outbox_pk=TODO (re-drive a claim, retry a submit; an alert on it is sent after) and
outbox_pk=ALERT (only an alert to send, sorted by its next attempt time).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from batchcron.models import Alert, Run, Status, iso, utcnow
from batchcron.store.children import ChildRuns
from batchcron.store.deliveries import DeliveryRecords
from batchcron.store.items import ConflictError, _de, _plain, _ser
from batchcron.store.recent import CELL_FIELDS, RecentRuns
from batchcron.store.state import JobStates

RUN_TTL = timedelta(days=400)
# Statuses a Batch state-change event follows within seconds: the job-state function writes the
# grid's cell when it records that event, which keeps the cell's writes off the submit path
# (the tick's fan-out, the webhook). Other statuses are written by whoever sets them.
BATCH_FOLLOWS = frozenset({Status.CLAIMED, Status.SUBMITTED})
OUTBOX = "TODO"  # claims to re-drive, submits to retry
ALERTS = "ALERT"  # runs whose only work left is an alert to send


# --- keys ------------------------------------------------------------------------------


def run_key(job: str, run_id: str) -> dict[str, str]:
    return {"pk": f"JOB#{job}", "sk": f"RUN#{run_id}"}


WATERMARK_KEY = {"pk": "META", "sk": "WATERMARK"}


class RunStore(JobStates, RecentRuns, DeliveryRecords, ChildRuns):
    """Reads and conditional writes on the runs table: runs, their outbox and alerts, and the
    watermark here; job state, deliveries and the grid's newest runs in their mixins."""

    # --- runs ----------------------------------------------------------------------------
    def claim_run(self, run: Run, *, outbox_at: datetime | None = None) -> bool:
        """Create a run item unless it exists (the exactly-once claim). True when created."""
        item = run_item(run, outbox_at=outbox_at)
        if not self._put_new(item):
            return False
        if run.status not in BATCH_FOLLOWS:
            self._note_quietly(item)
        return True

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
        new_status = changes.get("status")
        shown = not CELL_FIELDS.isdisjoint(changes) and (
            new_status is None or Status(new_status) not in BATCH_FOLLOWS
        )
        item = self._update(
            run_key(job, run_id),
            set_=fields,
            add={"rev": 1},
            condition=" AND ".join(conditions),
            values=vals,
            return_new=return_new or shown,
        )
        if shown and item is not None:
            self._note_quietly(item)
        return item if return_new else None

    def get_run(self, job: str, run_id: str) -> Run | None:
        item = self._get(run_key(job, run_id))
        return Run.model_validate(item) if item else None

    def runs_for_job(self, job: str, limit: int = 20) -> list[Run]:
        """Runs of one job, newest first by when they were created (the ByJobTime index:
        `gsi1sk` is `<created>#<run id>`). The index is sparse: only run items carry `job`,
        so whatever a job is called, nothing but its runs can sort first."""
        items = self._query(
            limit=limit,
            IndexName="ByJobTime",
            KeyConditionExpression="#job = :job",
            ExpressionAttributeNames={"#job": "job"},
            ExpressionAttributeValues=_ser({":job": job}),
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

    def runs_since(self, since: str, limit: int = 10000) -> list[Run]:
        """Runs of every job created at or after `since` (ISO), newest first (the cost
        report; paged by the table's reader up to `limit`)."""
        items = self._query(
            limit=limit,
            IndexName="ByTime",
            KeyConditionExpression="gsi1pk = :run AND gsi1sk >= :since",
            ExpressionAttributeValues=_ser({":run": "RUN", ":since": since}),
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

    def run_by_id(self, run_id: str) -> Run | None:
        """The run with this id, whatever job it is stored under (a foreign run's id does not
        name its job): the ByTime index's runs filtered by id, paged until found. For the CLI,
        which takes any id `batchcron runs` prints; handlers know the job and use get_run."""
        items = self._query(
            limit=1,
            IndexName="ByTime",
            KeyConditionExpression="gsi1pk = :run",
            FilterExpression="run_id = :id",
            ExpressionAttributeValues=_ser({":run": "RUN", ":id": run_id}),
            ScanIndexForward=False,
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
    # Used by batchcron.outcomes.record: Batch events applied to runs in order, each run's outcome
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
        names: dict[str, str] = {"#order": "order", "#rev": "rev"}
        values: dict[str, Any] = {":order": order, ":zero": 0, ":one": 1}
        sets, removes = ["#order = :order", "#rev = if_not_exists(#rev, :zero) + :one"], []
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


def run_item(run: Run, *, outbox_at: datetime | None = None) -> dict[str, Any]:
    """The DynamoDB item for a run."""
    item = run.model_dump(exclude_none=True, mode="json")
    item.update(run_key(run.job, run.run_id))
    item.update({"gsi1pk": "RUN", "gsi1sk": f"{run.created_at}#{run.run_id}"})
    item["expires_at"] = int((utcnow() + RUN_TTL).timestamp())
    item["rev"] = 1
    if outbox_at is not None:
        item.update({"outbox_pk": OUTBOX, "outbox_sk": f"{iso(outbox_at)}#{run.run_id}"})
    return item
