"""Each job's newest runs in one item, so the status page's grid is one Query for every job.

Item: pk=JOB#<job>, sk=RECENT, gsi1pk=RECENT, gsi1sk=<job>; `cells` is one JSON string mapping
run id -> cell (`s` status, `t` trigger, `c` created, `b` started, `e` stopped, `x` exit code,
`v` the run item's revision `rev`, raised by every write of the run), and `ver` counts the item's
writes. One string rather than a map of maps keeps the item small (it is rewritten on every
status change) and the grid's read cheap to decode.

Written by whoever changed what a cell shows (status, times, exit code), after the run's own
write: read the item, put the cell in unless the stored one has the same or a newer revision,
keep the newest RECENT_KEEP by creation time, and write it back on condition
that `ver` is still the one read (else read again). So racing writers lose nothing, the newer
revision wins, and a repeated write changes nothing. The first cell of a job seeds the item
from the job's stored runs (runs written before the item existed); an item whose cells cannot
be read is rebuilt the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from batchcron.models import Run
from batchcron.store.items import ConflictError, _ser
from batchcron.store.table import Table

RECENT_KEEP = 25  # the status page's grid width
CELL_FIELDS = frozenset(
    {"status", "trigger", "created_at", "started_at", "stopped_at", "exit_code"}
)
WRITE_ATTEMPTS = 5


def recent_key(job: str) -> dict[str, str]:
    return {"pk": f"JOB#{job}", "sk": "RECENT"}


def run_cell(item: Mapping[str, Any]) -> dict[str, Any]:
    """A run item's cell (what the grid shows of it)."""
    cell = {
        "s": item["status"],
        "t": item["trigger"],
        "c": item["created_at"],
        "v": int(item.get("rev") or 0),
    }
    for name, short in (("started_at", "b"), ("stopped_at", "e"), ("exit_code", "x")):
        if item.get(name) is not None:
            cell[short] = item[name]
    return cell


def cell_run(job: str, run_id: str, cell: Mapping[str, Any]) -> Run:
    """The run a cell stands for, with the fields the grid reads."""
    return Run.model_validate(
        {
            "job": job,
            "run_id": run_id,
            "status": cell.get("s"),
            "trigger": cell.get("t"),
            "created_at": cell.get("c"),
            "started_at": cell.get("b"),
            "stopped_at": cell.get("e"),
            "exit_code": cell.get("x"),
        }
    )


def newest(cells: Mapping[str, Any], limit: int = RECENT_KEEP) -> dict[str, Any]:
    """The newest `limit` cells, newest first: by when each run was created, then its id (a
    foreign run's id says nothing of its time)."""
    order = sorted(cells, key=lambda run_id: (str(cells[run_id].get("c") or ""), run_id))
    return {run_id: cells[run_id] for run_id in reversed(order[-limit:] if limit else [])}


def encode_cells(cells: Mapping[str, Any]) -> str:
    return json.dumps(newest(cells), separators=(",", ":"), sort_keys=True)


def decode_cells(text: Any) -> dict[str, dict[str, Any]]:
    """The cells of a RECENT item's `cells`; ValueError when they are not cells."""
    cells = json.loads(text) if isinstance(text, str) else None
    if not isinstance(cells, dict) or not all(isinstance(c, dict) for c in cells.values()):
        raise ValueError("RECENT cells are not a JSON object of objects")
    return cells


def recent_item(job: str, items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A job's RECENT item holding the newest RECENT_KEEP of these run items."""
    return {
        **recent_key(job),
        "gsi1pk": "RECENT",
        "gsi1sk": job,  # no `job` attribute: the ByJobTime index holds runs only
        "ver": 1,
        "cells": encode_cells({str(item["run_id"]): run_cell(item) for item in items}),
    }


class RecentRuns(Table):
    """The grid part of RunStore: each job's newest cells, written after its runs."""

    def note_run(self, item: Mapping[str, Any]) -> None:
        """Put a run item's cell in its job's RECENT item, unless a newer one is there.
        ConflictError when the item kept changing under it WRITE_ATTEMPTS times."""
        job, run_id = str(item["job"]), str(item["run_id"])
        cell = run_cell(item)
        for _ in range(WRITE_ATTEMPTS):
            current = self._get(recent_key(job))
            if current is None:
                if self._seed_recent(job, None):
                    return  # seeded from the stored runs, this one's write included
                continue  # seeded by a concurrent writer: put the cell in that item
            try:
                cells = decode_cells(current.get("cells"))
            except ValueError:
                if self._seed_recent(job, current.get("ver")):
                    return
                continue
            stored = cells.get(run_id)
            if stored is not None and int(stored.get("v") or 0) >= cell["v"]:
                return  # this cell or a newer one is there
            cells[run_id] = cell
            if run_id not in newest(cells):
                return  # older than every cell kept
            try:
                self._update(
                    recent_key(job),
                    set_={"cells": encode_cells(cells), "job": None},  # None: REMOVE
                    add={"ver": 1},
                    condition="#ver = :seen",
                    values={":seen": current.get("ver")},
                )
            except ConflictError:
                continue  # written meanwhile: read it again
            return
        raise ConflictError(f"the newest runs of {job!r} kept changing")

    def _note_quietly(self, item: Mapping[str, Any]) -> None:
        """note_run for writers whose own work must not fail over the grid: the run's next
        write (its Batch events) puts the cell right."""
        try:
            self.note_run(item)
        except Exception:
            from batchcron.observability import count, logger

            logger.warning(
                "could not note the run in its job's newest runs",
                job=item.get("job"),
                run_id=item.get("run_id"),
                exc_info=True,
            )
            count("RecentRunsWriteFailed")

    def recent_cells(self) -> dict[str, dict[str, Any] | BaseException]:
        """Every job's newest cells (run id -> cell), from one Query of the ByTime index. A job
        whose cells cannot be read maps to the ValueError."""
        items = self._query(
            IndexName="ByTime",
            KeyConditionExpression="gsi1pk = :recent",
            ExpressionAttributeValues=_ser({":recent": "RECENT"}),
        )
        found: dict[str, dict[str, Any] | BaseException] = {}
        for item in items:
            job = str(item["pk"]).removeprefix("JOB#")
            try:
                found[job] = decode_cells(item.get("cells"))
            except ValueError as exc:
                found[job] = exc
        return found

    def _seed_recent(self, job: str, replacing: Any) -> bool:
        """Build the job's RECENT item from its stored runs: a new one (`replacing` None), or
        over an unreadable one whose `ver` is `replacing`. False when someone wrote it first."""
        items = self._query(
            limit=RECENT_KEEP,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
            ExpressionAttributeValues=_ser({":pk": f"JOB#{job}", ":run": "RUN#"}),
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        item = recent_item(job, items)
        if replacing is None:
            return self._put_new(item)
        try:
            self._update(
                recent_key(job),
                set_={"cells": item["cells"], "job": None},
                add={"ver": 1},
                condition="#ver = :seen",
                values={":seen": replacing},
            )
        except ConflictError:
            return False
        return True
