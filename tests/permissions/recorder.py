"""Records every AWS call the Lambda functions' code makes while the test suites run.

A botocore `provide-client-params` hook on every client notes (function, service, operation,
the parameters that name resources or carry tags, region, the functions' environment). Which
function is calling is read from the stack: the outermost frame of a function's entry point
(its `handler`, or the logic object the fault campaigns drive directly). Worker threads the
code starts inherit their submitter's function. Calls made by a test's own set-up, the CLI or
local mode's scaffolding are outside every entry point and are not recorded.

Each pytest(-xdist) process dumps what it recorded into BATCHCRON_CALL_RECORDINGS at session
end (tests/conftest.py); tests/permissions loads every dump from there.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ENV_DIR = "BATCHCRON_CALL_RECORDINGS"

# (module, qualified name) of each function's entry points -> template logical ID. The
# handlers are what Lambda invokes; Dispatcher.tick is the logic the dispatch handler calls,
# which tests/fault_injection drives on the stack's own resources without the handler around
# it. (Recorder is not an entry point: the fault campaigns build Recorders on tables of their
# own, which no deployed function is wired to; the job-state handler's calls are recorded.)
ENTRY_POINTS: dict[tuple[str, str], str] = {
    ("batchcron.handlers.dispatch", "handler"): "DispatchFunction",
    ("batchcron.handlers.webhook", "handler"): "WebhookFunction",
    ("batchcron.handlers.job_state", "handler"): "JobStateFunction",
    ("batchcron.scheduling.dispatch", "Dispatcher.tick"): "DispatchFunction",
}

# The environment variables template.yaml gives the functions: resource names and ARNs the
# calls name, recorded so the permission check can bind !Ref/!GetAtt to what the code used.
ENVIRONMENT = (
    "STACK_NAME",
    "RUNS_TABLE",
    "JOB_QUEUE",
    "JOB_DEFINITION",
    "EXTRA_JOB_QUEUE_ARNS",
    "EXTRA_JOB_DEFINITION_ARNS",
    "SLACK_WEBHOOK_SECRET_ARN",
    "GITHUB_WEBHOOK_SECRET_ARN",
    "SLACK_BOT_TOKEN_SECRET_ARN",
    "SLACK_SIGNING_SECRET_ARN",
    "JOB_LOG_GROUP",
)

# Parameters that name a resource or carry what a condition key reads; the rest (items, keys,
# expressions) say nothing about permissions and would only make the recordings big.
KEPT_PARAMS = {
    "TableName",
    "IndexName",
    "SecretId",
    "QueueUrl",
    "jobQueue",
    "jobDefinition",
    "jobId",
    "tags",
    "shareIdentifier",
    "schedulingPriorityOverride",
    "propagateTags",
    "logGroupName",
    "logStreamName",
    "resourceArn",
}


@dataclass(frozen=True)
class Call:
    function: str  # template logical ID, e.g. DispatchFunction
    service: str  # IAM service prefix (botocore signing name), e.g. batch
    operation: str  # API operation, e.g. SubmitJob
    params: dict[str, Any]
    region: str
    environment: dict[str, str]
    test: str = ""  # the pytest node id it was recorded in
    # For calls on an existing Batch job: the tags it carried (aws:ResourceTag/...).
    resource_tags: dict[str, str] | None = None

    @property
    def suite(self) -> str:
        """tests/<suite>/...: integration, fault_injection, ..."""
        parts = self.test.split("/")
        return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""

    def key(self) -> str:
        """Identity for de-duplication: everything but the test that made it."""
        return repr(
            (
                self.function,
                self.service,
                self.operation,
                sorted(self.params.items()),
                self.region,
                sorted(self.environment.items()),
                sorted((self.resource_tags or {}).items()),
            )
        )


@dataclass
class Recording:
    calls: list[Call] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, call: Call) -> None:
        key = call.key()
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            self.calls.append(call)

    def extend(self, calls: Iterable[Call]) -> None:
        for call in calls:
            self.add(call)

    def dump(self, directory: Path) -> Path | None:
        """Write this process's calls to a file of its own in `directory` (None if no calls)."""
        if not self.calls:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"calls-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        rows = [asdict(call) for call in self.calls]
        target.write_text(json.dumps(rows, default=str, sort_keys=True), encoding="utf-8")
        return target

    @classmethod
    def load(cls, directory: Path) -> Recording:
        recording = cls()
        for path in sorted(directory.glob("calls-*.json")):
            for row in json.loads(path.read_text(encoding="utf-8")):
                recording.add(Call(**row))
        return recording

    def suites(self) -> set[str]:
        return {call.suite for call in self.calls}

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self.calls))


RECORDING = Recording()
_inherited = threading.local()


def current_function() -> str | None:
    """The function whose entry point is on this thread's stack (outermost wins), else the
    function of the thread that handed this thread its work."""
    found: str | None = None
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        name = ENTRY_POINTS.get((frame.f_globals.get("__name__", ""), code.co_qualname))
        if name is not None:
            found = name
        frame = frame.f_back  # type: ignore[assignment]
    return found or getattr(_inherited, "function", None)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _kept(params: dict[str, Any]) -> dict[str, Any]:
    kept = {key: _clean(value) for key, value in params.items() if key in KEPT_PARAMS}
    if isinstance(params.get("RequestItems"), dict):  # BatchGetItem: the tables it reads
        kept["RequestItems"] = sorted(params["RequestItems"])
    return kept


def _job_tags(region: str, job_id: Any) -> dict[str, str] | None:
    """The tags moto holds for a Batch job (what AWS evaluates aws:ResourceTag against)."""
    try:
        from moto.batch.models import batch_backends
        from moto.core import DEFAULT_ACCOUNT_ID

        backend = batch_backends[DEFAULT_ACCOUNT_ID][region]
        job = backend.get_job_by_id(str(job_id))
        if job is None:
            return None
        tags = backend.list_tags_for_resource(job.arn)
    except Exception:  # not under moto, or moto changed: the condition then sees no tags
        return None
    return {str(k): str(v) for k, v in (tags or {}).items()}


def _on_call(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    function = current_function()
    if function is None:
        return
    service_model = model.service_model
    service = service_model.signing_name or service_model.endpoint_prefix
    region = str(context.get("client_region") or "")
    resource_tags = None
    if service == "batch" and "jobId" in params:
        resource_tags = _job_tags(region, params["jobId"])
    RECORDING.add(
        Call(
            function=function,
            service=service,
            operation=model.name,
            params=_kept(params),
            region=region,
            environment={k: os.environ[k] for k in ENVIRONMENT if os.environ.get(k)},
            test=os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
            resource_tags=resource_tags,
        )
    )


_installed = False


def install() -> None:
    """Hook every botocore client created from now on, and let pool threads inherit the
    function of the thread that submitted their work. Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    import botocore.session

    create_client = botocore.session.Session.create_client

    def recording_create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("provide-client-params.*.*", _on_call)
        return client

    botocore.session.Session.create_client = recording_create_client  # type: ignore[method-assign]

    submit = ThreadPoolExecutor.submit

    def inheriting_submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        owner = current_function()
        if owner is None:
            return submit(self, fn, *args, **kwargs)

        def run(*a: Any, **k: Any) -> Any:
            before = getattr(_inherited, "function", None)
            _inherited.function = owner
            try:
                return fn(*a, **k)
            finally:
                _inherited.function = before

        return submit(self, run, *args, **kwargs)

    ThreadPoolExecutor.submit = inheriting_submit  # type: ignore[method-assign]
