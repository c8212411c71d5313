"""How late runs start, and the times of a run's life. Pure.

Start lag: the run's slot (or, for a push, manual or upstream run, its trigger: when the run was
created) → the first time it was RUNNING. The timeline: slot or trigger → claimed → submitted →
RUNNABLE → STARTING → RUNNING → finished, from batchcron's own writes and the run's Batch events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from batchcron.models import Run, parse_time

LAG_RUNS = 25  # the percentiles are over a job's newest runs that reached RUNNING


@dataclass(frozen=True)
class Lag:
    p50: float
    p95: float
    runs: int

    def as_json(self) -> dict[str, float | int]:
        return {
            "p50_seconds": round(self.p50, 3),
            "p95_seconds": round(self.p95, 3),
            "runs": self.runs,
        }


def began(run: Run) -> str:
    """When the run was due: its slot, else its trigger (creation)."""
    return run.slot or run.created_at


def running_at(run: Run) -> str | None:
    """The first time the run was RUNNING (its events), else its first attempt's start."""
    if run.running_at:
        return run.running_at
    first = next((a.started_at for a in run.attempts if a.started_at), None)
    return first or run.started_at


def start_lag(run: Run) -> float | None:
    """Seconds from slot (or trigger) to RUNNING; None when it never ran."""
    running = running_at(run)
    if running is None:
        return None
    return max(0.0, (parse_time(running) - parse_time(began(run))).total_seconds())


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of `values` (not empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def lag_percentiles(runs: Sequence[Run], limit: int = LAG_RUNS) -> Lag | None:
    """p50 and p95 start lag over the newest `limit` of `runs` (newest first) that started."""
    lags = [lag for lag in (start_lag(run) for run in runs) if lag is not None][:limit]
    if not lags:
        return None
    return Lag(percentile(lags, 0.5), percentile(lags, 0.95), len(lags))


def timeline(run: Run) -> list[tuple[str, str]]:
    """(step, ISO time) of the run's life that it has, in order."""
    first = "slot" if run.slot else "trigger"
    steps = [
        (first, run.slot or run.created_at),
        ("claimed", run.claimed_at or (run.created_at if run.slot else None)),
        ("submitted", run.submitted_at),
        ("RUNNABLE", run.runnable_at),
        ("STARTING", run.starting_at),
        ("RUNNING", running_at(run)),
        ("finished", run.stopped_at if run.finished else None),
    ]
    return [(name, at) for name, at in steps if at]


def lag_text(seconds: float | None) -> str:
    """`42s`, `3m 05s`, `1h 02m`; `-` for none."""
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
