"""Run store writes for the tick's once-per-cycle checks (a deadline missed, a wait overdue).

Item: pk=JOB#<job>  sk=CHECK#<kind>#<cycle>, kept CHECK_TTL via `expires_at`.

A check fires at most once per job, kind and cycle however many ticks see it due (duplicated,
concurrent or catching up): `mark` creates the item with a conditional PutItem and only the
caller that created it alerts. A follow-up (the run finished late, the wait ended) is one
conditional UpdateItem on the same item, so it is sent once too. `kind` and `cycle` are the
caller's words (`deadline`, `wait`; a slot or cycle start in ISO 8601) and must not contain `#`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from batchcron.models import iso, utcnow
from batchcron.store.items import ConflictError, _plain
from batchcron.store.table import Table

CHECK_TTL = timedelta(days=400)

__all__ = ["CHECK_TTL", "ConflictError", "check_key", "follow_up", "get", "mark", "open_checks"]


def check_key(job: str, kind: str, cycle: str) -> dict[str, str]:
    if "#" in kind or "#" in cycle:
        raise ValueError(f"check kind and cycle may not contain '#': {kind!r}, {cycle!r}")
    return {"pk": f"JOB#{job}", "sk": f"CHECK#{kind}#{cycle}"}


def mark(
    table: Table, job: str, kind: str, cycle: str, fields: Mapping[str, Any] | None = None
) -> bool:
    """Record that `kind` fired for `job`'s `cycle`. True only for the one call that created it
    (that caller sends the alert); False when any earlier call did."""
    now = utcnow()
    item: dict[str, Any] = {key: _plain(value) for key, value in (fields or {}).items()}
    item.update(
        check_key(job, kind, cycle),
        job=job,
        kind=kind,
        cycle=cycle,
        fired_at=iso(now),
        expires_at=int((now + CHECK_TTL).timestamp()),
    )
    return table._put_new(item)


def follow_up(
    table: Table, job: str, kind: str, cycle: str, fields: Mapping[str, Any] | None = None
) -> bool:
    """Record the one follow-up of a fired check (it ended). True only for the call that
    recorded it; False when the check never fired or was followed up already."""
    changes: dict[str, Any] = {key: _plain(value) for key, value in (fields or {}).items()}
    changes["followed_up_at"] = iso(utcnow())
    try:
        table._update(
            check_key(job, kind, cycle),
            set_=changes,
            condition="attribute_exists(pk) AND attribute_not_exists(#followed_up_at)",
        )
    except ConflictError:
        return False
    return True


def get(table: Table, job: str, kind: str, cycle: str) -> dict[str, Any] | None:
    return table._get(check_key(job, kind, cycle))


def open_checks(table: Table, job: str, kind: str) -> list[dict[str, Any]]:
    """The checks of `kind` that fired for `job` and have no follow-up yet, oldest cycle first."""
    items = table._query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
        ExpressionAttributeValues={":pk": {"S": f"JOB#{job}"}, ":sk": {"S": f"CHECK#{kind}#"}},
        ConsistentRead=True,
    )
    return [item for item in items if "followed_up_at" not in item]
