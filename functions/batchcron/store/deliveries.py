"""Webhook deliveries in the run store: each (hook id, delivery id) processed once, and each
signed body starting runs under one delivery id only.

Items (RunsTable, both kept DELIVERY_TTL after they were last processed, via `expires_at`)
- delivery       pk=DELIVERY#<hook>#<delivery id>  sk=DELIVERY
  status processing (leased to one invocation), partial (some jobs could not be submitted) or
  done; `settled` maps job -> outcome of the jobs that need nothing more; `result` is the
  response given once all are settled.
- delivery body  pk=DELIVERYBODY#<sha256 of the body>  sk=DELIVERY
  the (hook id, delivery id) that first brought this exact body. The delivery headers are not
  signed, the body is: the same body under a new X-GitHub-Delivery is a replay.
- interaction    pk=INTERACTION#<key>  sk=DELIVERY
  a Slack button press (its trigger_id / action_ts) acted on once; a double click or Slack's
  retry finds it and does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from batchcron.models import iso
from batchcron.store.items import ConflictError, _ser
from batchcron.store.table import Table

DELIVERY_TTL = timedelta(days=8)  # GitHub redeliveries within 7 days stay deduplicated
INTERACTION_TTL = timedelta(days=1)  # Slack retries an interaction within minutes


class DeliveryRecords(Table):
    """The delivery part of RunStore."""

    def claim_interaction(self, key: str, *, now: datetime) -> bool:
        """Record a Slack interaction as acted on (conditional put): False when it already was."""
        return self._put_new(
            {
                "pk": f"INTERACTION#{key}",
                "sk": "DELIVERY",
                "received_at": iso(now),
                "expires_at": int((now + INTERACTION_TTL).timestamp()),
            }
        )

    def claim_body(
        self, body_sha256: str, hook_id: str, delivery_id: str, *, now: datetime
    ) -> str | None:
        """Record that this delivery brought this body. None when the body is new or was
        brought by this same delivery (a redelivery); otherwise "<hook>/<delivery>" of the
        delivery that brought it first, and nothing is changed."""
        key = body_key(body_sha256)
        try:
            self._update(
                key,
                set_={
                    "hook_id": hook_id,
                    "delivery_id": delivery_id,
                    "expires_at": _delivery_expiry(now),
                },
                condition="attribute_not_exists(pk) OR "
                "(#hook_id = :hook AND #delivery_id = :delivery)",
                values={":hook": hook_id, ":delivery": delivery_id},
            )
        except ConflictError:
            first = self._get(key) or {}
            return f"{first.get('hook_id', '?')}/{first.get('delivery_id', '?')}"
        return None

    def begin_delivery(
        self, hook_id: str, delivery_id: str, *, event: str, now: datetime, lease: timedelta
    ) -> dict[str, Any] | None:
        """Record a new delivery as ours to process (conditional put). None when it was new;
        otherwise the existing item, unchanged."""
        item: dict[str, Any] = {
            **delivery_key(hook_id, delivery_id),
            "hook_id": hook_id,
            "delivery_id": delivery_id,
            "event": event,
            "status": "processing",
            "version": 1,
            "lease_until": iso(now + lease),
            "received_at": iso(now),
            "settled": {},
            "expires_at": _delivery_expiry(now),
        }
        for _ in range(3):
            if not self._put_new(item):
                existing = self._get(delivery_key(hook_id, delivery_id))
                if existing is not None:
                    return existing
                continue  # expired between the put and the get: try the put again
            return None
        raise ConflictError(f"delivery {hook_id}/{delivery_id} keeps changing")

    def resume_delivery(
        self, hook_id: str, delivery_id: str, *, version: int, now: datetime, lease: timedelta
    ) -> int:
        """Take over a partial delivery, or one whose lease ran out (a crashed invocation).
        Returns the new version; ConflictError when another invocation got there first."""
        updated = self._update(
            delivery_key(hook_id, delivery_id),
            set_={
                "status": "processing",
                "lease_until": iso(now + lease),
                "expires_at": _delivery_expiry(now),
            },
            add={"version": 1},
            condition="#version = :seen AND (#status = :partial OR #lease_until < :now)",
            values={":seen": version, ":partial": "partial", ":now": iso(now)},
            return_new=True,
        )
        assert updated is not None
        return int(updated["version"])

    def settle_delivery_job(
        self, hook_id: str, delivery_id: str, job: str, outcome: Mapping[str, Any]
    ) -> None:
        """Note that `job` needs nothing more for this delivery (written as soon as it is known,
        so a crash later in the invocation cannot make a redelivery submit it again)."""
        self.client.update_item(
            TableName=self.table,
            Key=_ser(delivery_key(hook_id, delivery_id)),
            UpdateExpression="SET #settled.#job = :outcome",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#settled": "settled", "#job": job},
            ExpressionAttributeValues=_ser({":outcome": dict(outcome)}),
        )

    def finish_delivery(
        self,
        hook_id: str,
        delivery_id: str,
        *,
        version: int,
        done: bool,
        result: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """Release the lease: done (with the result duplicates get) or partial (redeliver)."""
        self._update(
            delivery_key(hook_id, delivery_id),
            set_={
                "status": "done" if done else "partial",
                "result": dict(result),
                "finished_at": iso(now),
                "lease_until": None,
            },
            condition="#version = :mine",
            values={":mine": version},
        )


def delivery_key(hook_id: str, delivery_id: str) -> dict[str, str]:
    return {"pk": f"DELIVERY#{hook_id}#{delivery_id}", "sk": "DELIVERY"}


def body_key(body_sha256: str) -> dict[str, str]:
    return {"pk": f"DELIVERYBODY#{body_sha256}", "sk": "DELIVERY"}


def _delivery_expiry(now: datetime) -> int:
    """Keep a delivery at least DELIVERY_TTL after it was last processed."""
    return int((now + DELIVERY_TTL).timestamp())
