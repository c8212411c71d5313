"""Job dependencies (`after:`) for people: what each job waits for (`batchcron jobs`) and the
dependency graph as text (`batchcron graph`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click

from batchcron.catalogue.model import Catalogue, Job
from batchcron.models import JobState, iso


def after_info(
    job: Job, states: Mapping[str, JobState] | None, now: datetime
) -> dict[str, Any] | None:
    """A job's upstreams and, when the run store could be read, what its open cycle waits for
    (`["conservation-area: FAILED 01:42"]`; empty when the cycle is complete)."""
    if job.after is None:
        return None
    info: dict[str, Any] = {"jobs": list(job.after.jobs), "when": job.after.when}
    if states is None:
        return info
    from batchcron.catalogue.upstream import decide_from_states

    cycle = decide_from_states(job, states, now)
    own = states.get(job.name)
    info["cycle_since"] = iso(cycle.since)
    info["waiting"] = [wait.describe() for wait in cycle.waiting]
    info["last_upstream_run"] = own.upstream_run_id if own else None
    info["overdue"] = overdue_text(job, states, now)
    return info


def overdue_text(job: Job, states: Mapping[str, JobState], now: datetime) -> str | None:
    """The job's wait past its `after.max_wait`, in the words of its alert; None when none
    (the states must hold the job's upstreams; others waiting on them are named when known)."""
    from batchcron.catalogue.upstream import overdue_wait

    try:
        overdue = overdue_wait(job, states, now)
    except Exception:  # an odd state: the job's STATUS says `?`, the listing still shows
        return None
    return overdue.text(now) if overdue is not None else None


def after_text(info: Mapping[str, Any] | None) -> str:
    """The AFTER cell of `batchcron jobs`: the upstream jobs (what the job waits for is its
    STATUS), and `OVERDUE: …` once a wait has passed its after.max_wait."""
    if info is None:
        return "-"
    when = "" if info["when"] == "succeeded" else f" ({info['when']})"
    text = ", ".join(info["jobs"]) + when
    return f"{text}; OVERDUE: {info['overdue']}" if info.get("overdue") else text


def render(catalogue: Catalogue) -> str:
    """The dependency graph as an indented tree, from the jobs nothing is after to the last
    downstream job. A job after several upstreams appears under each; its subtree is drawn once."""
    children: dict[str, list[Job]] = {}
    for job in catalogue.jobs.values():
        for upstream in job.after.jobs if job.after else ():
            children.setdefault(upstream, []).append(job)
    if not children:
        return "no job runs after another (add `after:` to a job in the catalogue)"
    roots = [name for name in catalogue.jobs if name in children and not _after(catalogue, name)]
    lines: list[str] = []
    drawn: set[str] = set()

    def label(job: Job) -> str:
        assert job.after is not None
        parts = [job.name]
        if len(job.after.jobs) > 1:
            parts.append(f"(after {', '.join(job.after.jobs)})")
        if job.after.when == "finished":
            parts.append("[when finished]")
        if job.schedule:
            parts.append(f"[also schedule {job.schedule}]")
        if not job.enabled:
            parts.append("[disabled]")
        return " ".join(parts)

    def draw(name: str, prefix: str) -> None:
        below = children.get(name, [])
        for i, job in enumerate(below):
            last = i == len(below) - 1
            seen = job.name in drawn and job.name in children
            lines.append(f"{prefix}{'└── ' if last else '├── '}{label(job)}{' …' if seen else ''}")
            if not seen:
                drawn.add(job.name)
                draw(job.name, prefix + ("    " if last else "│   "))

    for root in roots:
        lines.append(root)
        draw(root, "")
    alone = [
        name for name in catalogue.jobs if name not in children and not _after(catalogue, name)
    ]
    if alone:
        lines.append("")
        lines.append(f"without dependencies: {', '.join(alone)}")
    return "\n".join(lines)


def _after(catalogue: Catalogue, name: str) -> bool:
    return catalogue.jobs[name].after is not None


@click.command()
def graph() -> int:
    """The job dependency graph (`after:`) as text: each job under the jobs it runs after."""
    from batchcron.adapters import terminal
    from batchcron.catalogue.loading import load_catalogue

    terminal.out().print(render(load_catalogue()), markup=False, highlight=False, soft_wrap=True)
    return 0
