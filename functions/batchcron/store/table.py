"""The run store's table access: the generic DynamoDB helpers every part of RunStore uses
(`runs.py` runs and the outbox, `state.py` job state, `recent.py` the grid's newest runs,
`deliveries.py` webhook deliveries)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from batchcron.adapters import aws
from batchcron.store.items import ConflictError, _de, _ser


class Table:
    """One DynamoDB table: UpdateItem/PutItem/GetItem/Query with its conditions and paging."""

    def __init__(self, table: str, client: Any | None = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.dynamodb()
        return self._client

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


def _condition_names(condition: str) -> set[str]:
    """Attribute names used as #name in a condition expression."""
    import re

    found = set(re.findall(r"#([A-Za-z_][A-Za-z0-9_]*)", condition))
    return found - set(re.findall(r"#([sra]\d+)", condition))
