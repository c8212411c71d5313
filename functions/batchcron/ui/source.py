"""What the status page reads: the catalogue, the run store and the job log streams.

The grid costs two DynamoDB Queries whatever the number of jobs, both on the ByTime index: every
job's state (`gsi1pk = STATE`) and every job's newest runs (`gsi1pk = RECENT`: one item per job
holding its last 25 runs as cells in one JSON string, see store/recent.py). A job with a state
but no RECENT item (runs written before that item existed, and none since) costs one more Query
for its runs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from batchcron.catalogue.errors import CatalogueError
from batchcron.catalogue.model import Catalogue
from batchcron.models import JobState, Run, Status

READ_WORKERS = 8
# A run in one of these has no container yet, so no log to look for.
NOT_STARTED = frozenset(
    {
        Status.CLAIMED,
        Status.QUEUED,
        Status.SUBMITTED,
        Status.PENDING,
        Status.RUNNABLE,
        Status.STARTING,
    }
)


@dataclass
class Source:
    """Reads for the page, through the same store and log adapters as the CLI."""

    region: str
    log_group: str | None
    console_links: bool  # a deployed stack: link to the AWS console
    target: str = ""
    problem: CatalogueError | None = field(default=None, init=False)
    _good: Catalogue | None = field(default=None, init=False, repr=False)

    def catalogue(self) -> Catalogue:
        """The catalogue; while the file has an error, the last good one (or none), with the
        error kept in `problem` for the page's banner."""
        from batchcron.catalogue.loading import load_catalogue

        try:
            catalogue = load_catalogue()
        except CatalogueError as exc:
            self.problem = exc
            return self._good or Catalogue(jobs={})
        self._good, self.problem = catalogue, None
        return catalogue

    def states(self) -> dict[str, JobState]:
        from batchcron.wiring import store

        return {state.job: state for state in store().all_job_states()}

    def state(self, job: str) -> JobState:
        from batchcron.wiring import store

        return store().job_state(job)

    def runs(self, job: str, limit: int) -> list[Run]:
        from batchcron.wiring import store

        return store().runs_for_job(job, limit=limit)

    def recent_runs(self, limit: int) -> list[Run]:
        from batchcron.wiring import store

        return store().recent_runs(limit=limit)

    def recent(self) -> dict[str, dict[str, Any] | BaseException]:
        """Every job's newest runs as cells (run id -> cell), in one Query; a job whose cells
        cannot be read maps to its error."""
        from batchcron.wiring import store

        return store().recent_cells()

    def grid_runs(
        self, jobs: Sequence[str], states: Collection[str], limit: int
    ) -> dict[str, list[Run] | BaseException]:
        """Each job's newest `limit` runs, newest first, from its RECENT item; a job that has a
        state but no RECENT item yet is read from its runs. A job whose cells or runs cannot
        be read gets its error, the others their runs."""
        from batchcron.store.recent import cell_run, newest

        try:
            recent = self.recent()
        except Exception as exc:
            return dict.fromkeys(jobs, exc)
        found: dict[str, list[Run] | BaseException] = {}
        for job in jobs:
            cells = recent.get(job)
            if cells is None:
                continue
            if isinstance(cells, BaseException):
                found[job] = cells
                continue
            try:
                found[job] = [
                    cell_run(job, run_id, cell) for run_id, cell in newest(cells, limit).items()
                ]
            except Exception as exc:
                found[job] = exc
        older = [job for job in jobs if job not in recent and job in states]
        found.update(self.runs_of(older, limit))
        return found

    def runs_of(self, jobs: Sequence[str], limit: int) -> dict[str, list[Run] | BaseException]:
        """Each job's newest runs; a job whose read fails gets its error, the others their runs."""

        def one(job: str) -> list[Run] | BaseException:
            try:
                return self.runs(job, limit)
            except Exception as exc:
                return exc

        if not jobs:
            return {}
        with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(jobs))) as pool:
            return dict(zip(jobs, pool.map(one, jobs), strict=True))

    def run(self, job: str, run_id: str) -> Run | None:
        from batchcron.wiring import store

        return store().get_run(job, run_id)

    def log_tail(self, run: Run, limit: int) -> tuple[list[tuple[int, str]], str]:
        """The stream's last lines and a note when there are none (never raises for logs)."""
        from batchcron.adapters.joblogs import JobLogs, NoLogStreamError

        stream = run.log_stream or next(
            (a.log_stream for a in reversed(run.attempts) if a.log_stream), None
        )
        if run.status in NOT_STARTED:
            return [], f"not started yet (status {run.status.value}): no log until it runs"
        if not self.log_group:
            return [], "the target has no job log group (JOB_LOG_GROUP)"
        if not stream:
            if run.status == Status.RUNNING:
                return [], "no log stream yet (status RUNNING)"
            return [], f"no log: the run ended {run.status.value} before it wrote one"
        try:
            lines = JobLogs().tail(self.log_group, stream, limit)
        except NoLogStreamError:
            if not run.status.terminal:
                return [], f"no log lines yet in {stream} (status {run.status.value})"
            return [], f"log stream {stream} is not in {self.log_group} (expired or not written)"
        except Exception as exc:  # the rest of the page is worth showing without its log
            return [], f"could not read the log: {type(exc).__name__}: {exc}"
        return lines, "" if lines else "the log stream is empty"
