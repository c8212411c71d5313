"""The children of an array or multi-node run: each child's (or node's) status on its parent's
run item (`child_status`, a map of index to status, and `child_total`). A child never changes
the run's own status: the parent's events do that."""

from __future__ import annotations

import contextlib
from typing import Any

from batchcron.store.items import _de, _ser
from batchcron.store.table import Table

CHILD_TERMINAL = ("SUCCEEDED", "FAILED")


def _key(job: str, run_id: str) -> dict[str, str]:
    return {"pk": f"JOB#{job}", "sk": f"RUN#{run_id}"}


class ChildRuns(Table):
    """Conditional writes of one child's status on its parent's run item."""

    def note_child(
        self, job: str, run_id: str, index: int, status: str, *, total: int | None = None
    ) -> dict[str, Any] | None:
        """Record child `index` at `status` on the run (which must exist); a child that ended
        keeps its outcome (a late, older event changes nothing). The item after, or None
        when nothing changed."""
        client = self.client
        # The map first (a nested SET needs it); a failed condition: it exists, or no run.
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
            client.update_item(
                TableName=self.table,
                Key=_ser(_key(job, run_id)),
                UpdateExpression="SET child_status = if_not_exists(child_status, :empty)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=_ser({":empty": {}}),
            )
        names = {"#map": "child_status", "#n": str(index)}
        values: dict[str, Any] = {":s": status, ":ok": "SUCCEEDED", ":bad": "FAILED"}
        expression = "SET #map.#n = :s"
        if total is not None:
            names["#total"] = "child_total"
            values[":total"] = total
            expression += ", #total = :total"
        try:
            response = client.update_item(
                TableName=self.table,
                Key=_ser(_key(job, run_id)),
                UpdateExpression=expression,
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(#map.#n) "
                    "OR NOT (#map.#n IN (:ok, :bad)))"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_ser(values),
                ReturnValues="ALL_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return _de(response["Attributes"])
