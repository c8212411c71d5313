"""Run store writes for `after:` cycles, on the downstream job's state item (JOB#<job>/STATE).

A cycle is claimed with one conditional UpdateItem: it moves `upstream_since` from the value the
caller saw to the new run's start, so of any number of invocations that saw the same complete
cycle exactly one wins; the others get ConflictError. The same write records the upstream runs
the cycle consumed, so the next cycle never counts one of them again
(`catalogue.upstream.Consumed`).
`upstream_start` stays set until the run is claimed in the submit path, so a crash in between is
finished by the dispatcher's tick.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

from batchcron.models import JobState
from batchcron.store.items import ConflictError
from batchcron.store.runs import RunStore

__all__ = ["ConflictError", "claim_cycle", "finish_cycle_start"]


def claim_cycle(
    store: RunStore,
    job: str,
    *,
    seen_since: str | None,
    run_id: str,
    started_at: str,
    upstream_runs: Sequence[str],
    upstream_finished: Mapping[str, str] | None = None,
) -> JobState:
    """Close the cycle that began at `seen_since` (None: the job never had one) and open the
    next at `started_at`, naming `run_id` as the run to start and recording the upstream runs it
    consumed (with their finish times, by upstream job), which no later cycle takes. Never
    while the job is paused. ConflictError when another invocation closed it first, or the job
    is paused."""
    moved = (
        "#upstream_since = :seen"
        if seen_since is not None
        else "attribute_not_exists(#upstream_since)"
    )
    values: dict[str, object] = {":paused": True}
    if seen_since is not None:
        values[":seen"] = seen_since
    return store.update_job_state(
        job,
        {
            "upstream_since": started_at,
            "upstream_run_id": run_id,
            "upstream_start": run_id,
            "upstream_runs": list(upstream_runs),
            "upstream_finished": dict(upstream_finished or {}),
        },
        condition=f"({moved}) AND (attribute_not_exists(#paused) OR #paused <> :paused)",
        values=values,
    )


def finish_cycle_start(store: RunStore, job: str, run_id: str) -> None:
    """The cycle's run is claimed in the submit path: nothing is left for the tick to finish."""
    # A conflict: finished already (a tick and an event both got here).
    with contextlib.suppress(ConflictError):
        store.update_job_state(
            job,
            {"upstream_start": None},
            condition="#upstream_start = :run",
            values={":run": run_id},
        )
