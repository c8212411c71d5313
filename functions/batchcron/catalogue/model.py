"""The job catalogue's records: a job (`Job`) and its parts, and the catalogue of them.

Validation here is per record; `loading.py` reads the file and reports every error with its
line, job and field.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from batchcron.catalogue.errors import UnknownJobError
from batchcron.catalogue.prices import PriceSettings
from batchcron.catalogue.schedule import ScheduleError, normalise, zone
from batchcron.records import Record, check, record
from batchcron.records import field as spec

if TYPE_CHECKING:  # imported where YAML is read: a fresh compiled catalogue needs none
    pass

DEADLINE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")  # with fullmatch
# Whole-value patterns, used with `fullmatch` (`$` would let a trailing newline through).
JOB_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
REPOSITORY = re.compile(r"[A-Za-z0-9-]{1,39}/(?!\.)[A-Za-z0-9._-]{1,100}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
WAIT = re.compile(r"(\d+)\s*([mhd])")
WAIT_UNITS = {"m": 1, "h": 60, "d": 24 * 60}
DEFAULT_MAX_WAIT = "24h"
SECRET_LIKE = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE_KEY|ACCESS_KEY", re.IGNORECASE)
# Variables batchcron sets itself; a job may not override them.
RESERVED_ENV = frozenset(
    {
        "REPOSITORY",
        "GITHUB_ORG",
        "BATCH_FILE_URL",
        "BATCH_FILE_SHA256",
        "GIT_REF",
        "BATCHCRON_JOB",
        "BATCHCRON_RUN_ID",
        "GITHUB_TOKEN",
        "BATCHCRON_UPSTREAM_RUNS",
    }
)
BUILTIN_SCRIPTS = {"pipeline": "pipeline_run.sh", "builder": "builder_run.sh"}

# Fargate's valid vCPU -> memory (MiB) combinations.
FARGATE_MEMORY: dict[float, range | tuple[int, ...]] = {
    0.25: (512, 1024, 2048),
    0.5: range(1024, 4096 + 1, 1024),
    1: range(2048, 8192 + 1, 1024),
    2: range(4096, 16384 + 1, 1024),
    4: range(8192, 30720 + 1, 1024),
    8: range(16384, 61440 + 1, 4096),
    16: range(32768, 122880 + 1, 8192),
}

Concurrency = Literal["forbid", "allow", "replace", "queue"]


@record(extra="forbid", frozen=True)
class OnPush(Record):
    """Which pushes trigger the job (GitHub workflow `on.push` semantics)."""

    branches: tuple[str, ...] = ("main",)
    paths: tuple[str, ...] = ()
    paths_ignore: tuple[str, ...] = ()

    def checked(self) -> None:
        if self.paths and self.paths_ignore:
            raise ValueError("use either paths or paths_ignore, not both")
        if not self.branches:
            raise ValueError("branches must list at least one pattern")


@record(extra="forbid", frozen=True)
class Notify(Record):
    """Alert policy for the job's outcomes."""

    enabled: bool = True
    still_failing_every: int = spec(default=5, ge=0)
    recovered: bool = True
    slack_webhook_secret: str | None = None
    slack_channel: str | None = None  # Slack app mode: this job's channel ID, not SLACK_CHANNEL


@record(extra="forbid", frozen=True)
class After(Record):
    """Start the job once every upstream job has finished a run (see docs/scheduling.md)."""

    jobs: tuple[str, ...]
    when: Literal["succeeded", "finished"] = "succeeded"
    # How long the job may wait for its upstreams before the tick alerts (`30m`, `24h`, `2d`;
    # `none`: never). Kept as written, normalised; `max_wait_minutes` is its value.
    max_wait: str = DEFAULT_MAX_WAIT

    @check("max_wait", before=True)
    @classmethod
    def _max_wait(cls, value: Any) -> Any:
        if value is None or value is False:
            return "none"
        if not isinstance(value, str):
            return value
        if value == "none":
            return value
        found = WAIT.fullmatch(value)
        if found is None or int(found.group(1)) == 0:
            raise ValueError("expected a duration such as 30m, 24h or 2d, or none")
        return f"{int(found.group(1))}{found.group(2)}"

    @property
    def max_wait_minutes(self) -> int | None:
        """The watchdog's limit in minutes; None when turned off."""
        found = WAIT.fullmatch(self.max_wait)
        if found is None:
            return None
        return int(found.group(1)) * WAIT_UNITS[found.group(2)]

    @check("jobs")
    @classmethod
    def _jobs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one upstream job")
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"lists {', '.join(duplicates)} more than once")
        return value


@record(extra="forbid", frozen=True)
class Job(Record):
    """One catalogued Batch job."""

    name: str
    repository: str
    script: str = "pipeline"
    script_sha256: str | None = None
    schedule: str | None = None
    timezone: str = "UTC"
    environment: dict[str, str] = spec(default_factory=dict)
    vcpus: float = 1
    memory_mib: int = 2048
    timeout_minutes: int = spec(default=720, ge=1, le=20160)
    attempts: int = spec(default=1, ge=1, le=10)
    job_queue: str | None = None
    job_definition: str | None = None
    concurrency: Concurrency = "forbid"
    starting_deadline_minutes: int = spec(default=60, ge=1)
    enabled: bool = True
    on_push: OnPush | None = None
    after: After | None = None
    notify: Notify = spec(default_factory=Notify)
    # Finished (SUCCEEDED) by this time of day in `timezone`, or this long after the slot.
    deadline: str | None = None
    deadline_minutes: int | None = spec(default=None, ge=1, le=20160)
    pause_after_failures: int | None = spec(default=None, ge=1, le=1000)

    @check("deadline")
    @classmethod
    def _deadline(cls, value: str | None) -> str | None:
        if value is not None and not DEADLINE.fullmatch(str(value)):
            raise ValueError('expected a time of day as HH:MM (24-hour, e.g. "07:00")')
        return value

    @check("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not JOB_NAME.fullmatch(value):
            raise ValueError(
                "job names are 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
            )
        return value

    @check("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not REPOSITORY.fullmatch(value) or ".." in value:
            raise ValueError("expected 'owner/name' (e.g. digital-land/parish-collection)")
        return value

    @check("script")
    @classmethod
    def _script(cls, value: str) -> str:
        if value in BUILTIN_SCRIPTS:
            return value
        if value.startswith("https://") and len(value) > len("https://"):
            return value
        raise ValueError("expected 'pipeline', 'builder' or an https:// URL")

    @check("script_sha256")
    @classmethod
    def _sha(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("expected 64 lower-case hex digits (sha256 of the script)")
        return value

    @check("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise(value)
        except ScheduleError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None

    @check("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zone(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return value

    @check("environment", before=True)
    @classmethod
    def _environment(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        clean: dict[str, str] = {}
        problems: list[tuple[str, str]] = []
        for key, item in value.items():
            key = str(key)
            problem = env_name_problem(key)
            if problem is None and not isinstance(item, str | int | float):
                problem = f"{key}: values must be strings or numbers"
            if problem is None and isinstance(item, str) and _loose_end(item):
                problem = f"{key}: the value ends in whitespace or a newline ({item!r})"
            if problem is not None:
                problems.append((key, problem))
            elif isinstance(item, bool):
                clean[key] = "true" if item else "false"
            else:
                clean[key] = str(item)
        if problems:
            raise EnvironmentProblemsError(problems)
        return clean

    def checked(self) -> None:
        if self.deadline is not None and self.deadline_minutes is not None:
            raise FieldProblemError("deadline", "use either deadline or deadline_minutes")
        for name in ("script", "timezone", "job_queue", "job_definition"):
            value = getattr(self, name)
            if isinstance(value, str) and _loose_end(value):
                raise FieldProblemError(name, f"ends in whitespace or a newline ({value!r})")
        secret = self.notify.slack_webhook_secret
        if secret is not None and _loose_end(secret):
            raise FieldProblemError(
                "notify.slack_webhook_secret", f"ends in whitespace or a newline ({secret!r})"
            )
        problems = cross_field_problems(
            self.script, self.script_sha256, self.vcpus, self.memory_mib
        )
        if problems:
            field, message = problems[0]
            raise FieldProblemError(field, message)

    # --- derived values -------------------------------------------------------------
    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def repository_name(self) -> str:
        return self.repository.split("/", 1)[1]

    @property
    def batch_file_url(self) -> str:
        return BUILTIN_SCRIPTS.get(self.script, self.script)


def cross_field_problems(
    script: Any, script_sha256: Any, vcpus: Any, memory_mib: Any
) -> list[tuple[str, str]]:
    """The checks across fields (a script URL's hash, Fargate's vCPU/memory sizes), as
    (field, message). A value of the wrong type is its own field's error, never one here:
    pass None for a field whose own check failed and the checks that need it are skipped."""
    problems: list[tuple[str, str]] = []
    if isinstance(script, str):
        if script in BUILTIN_SCRIPTS:
            if script_sha256 is not None:
                problems.append(("script_sha256", "only applies to a script URL"))
        elif script_sha256 is None:
            problems.append(("script_sha256", "required when script is a URL"))
    if isinstance(vcpus, int | float) and not isinstance(vcpus, bool):
        allowed = FARGATE_MEMORY.get(vcpus)
        if allowed is None:
            sizes = ", ".join(f"{v:g}" for v in FARGATE_MEMORY)
            problems.append(("vcpus", f"Fargate supports {sizes} vCPUs"))
        elif (
            isinstance(memory_mib, int)
            and not isinstance(memory_mib, bool)
            and memory_mib not in allowed
        ):
            problems.append(
                (
                    "memory_mib",
                    f"{memory_mib} MiB is not a Fargate size for {vcpus:g} vCPU "
                    f"({_describe_sizes(allowed)})",
                )
            )
    return problems


def _loose_end(value: str) -> bool:
    """Whether `value` ends (or starts) in whitespace: a pasted newline, never meant."""
    return value != value.strip()


def env_name_problem(key: str) -> str | None:
    """Why `key` cannot be a job's environment variable (catalogue or `submit --env`), or None."""
    if not ENV_NAME.fullmatch(key):
        return f"{key!r} is not a valid environment variable name"
    if key in RESERVED_ENV:
        return f"{key} is set by batchcron and cannot be overridden"
    if SECRET_LIKE.search(key):
        return (
            f"{key} looks like a secret: environment values are plain text; "
            "inject secrets from Secrets Manager in the job definition"
        )
    return None


class EnvironmentProblemsError(ValueError):
    """Every bad environment variable of one job, each reported on its own line."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


class FieldProblemError(ValueError):
    """A model-level check that belongs to one field (so the error can name it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _describe_sizes(allowed: range | tuple[int, ...]) -> str:
    if isinstance(allowed, range):
        return f"{allowed.start}-{allowed.stop - 1} in steps of {allowed.step}"
    return ", ".join(str(size) for size in allowed)


@record(frozen=True)
class Catalogue(Record):
    """All jobs, by name."""

    jobs: dict[str, Job]
    source: str = "jobs.yaml"
    prices: PriceSettings = spec(default_factory=PriceSettings)  # `defaults.prices`

    def get(self, name: str) -> Job:
        try:
            return self.jobs[name]
        except KeyError:
            raise UnknownJobError(name, list(self.jobs)) from None

    def scheduled(self) -> list[Job]:
        """Enabled jobs with a schedule."""
        return [job for job in self.jobs.values() if job.enabled and job.schedule]

    def by_repository_name(self, name: str) -> Job | None:
        """The job whose repository's name (after the owner) is `name`, case-insensitive."""
        wanted = name.lower()
        for job in self.jobs.values():
            if job.repository_name.lower() == wanted:
                return job
        return None
