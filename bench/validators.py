"""`python -m bench.validators [RUNS]`: what each validation candidate adds to a cold start.

Each fresh process imports boto3 (the handlers' floor), then the candidate, defines a record
like a run (27 fields, two nested records) and validates one stored item. Processes alternate
between candidates; the median of RUNS per candidate is printed (ms on top of `import boto3`).
A candidate that is not installed is reported as such (msgspec is not a dependency: install
it into a scratch folder and put that on PYTHONPATH to measure it). docs/performance.md holds
the figures behind the choice.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

FIELDS = [f"field_{i}" for i in range(22)]
ITEM = (
    "{'job': 'parish', 'run_id': 'r1', 'status': 'FAILED', 'order': 3, "
    "'attempts': [{'exit_code': 1}], 'alert': {'kind': 'failed'}, "
    + ", ".join(f"'{name}': 'x'" for name in FIELDS)
    + "}"
)
_OPTIONAL = "\n".join(f"    {name}: str | None = None" for name in FIELDS)

PYDANTIC = f"""
from pydantic import BaseModel, Field
class Attempt(BaseModel):
    exit_code: int | None = None
class Alert(BaseModel):
    kind: str
    failures: int = 0
class Run(BaseModel):
    job: str
    run_id: str
    status: str
    order: int = 0
    attempts: list[Attempt] = Field(default_factory=list)
    alert: Alert | None = None
{_OPTIONAL}
Run.model_validate({ITEM})
"""

MSGSPEC = f"""
import msgspec
class Attempt(msgspec.Struct, kw_only=True):
    exit_code: int | None = None
class Alert(msgspec.Struct, kw_only=True):
    kind: str
    failures: int = 0
class Run(msgspec.Struct, kw_only=True):
    job: str
    run_id: str
    status: str
    order: int = 0
    attempts: list[Attempt] = []
    alert: Alert | None = None
{_OPTIONAL}
msgspec.convert({ITEM}, Run, strict=False)
"""

RECORDS = f"""
from batchcron.records import Record, field, record
@record()
class Attempt(Record):
    exit_code: int | None = None
@record()
class Alert(Record):
    kind: str
    failures: int = 0
@record()
class Run(Record):
    job: str
    run_id: str
    status: str
    order: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    alert: Alert | None = None
{_OPTIONAL}
Run.model_validate({ITEM})
"""

CANDIDATES = {"pydantic": PYDANTIC, "msgspec": MSGSPEC, "dataclasses (batchcron.records)": RECORDS}

PROBE = """
import time
start = time.perf_counter()
import boto3
floor = time.perf_counter()
exec(compile(BODY, "candidate", "exec"), {})
print((time.perf_counter() - floor) * 1000)
"""


def once(body: str) -> float | None:
    code = PROBE.replace("BODY", repr(body))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return float(done.stdout) if done.returncode == 0 else None


def main(runs: int = 15) -> int:
    times: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    missing: set[str] = set()
    for _ in range(runs):
        for name, body in CANDIDATES.items():
            if name in missing:
                continue
            took = once(body)
            if took is None:
                missing.add(name)
            else:
                times[name].append(took)
    for name, values in times.items():
        if name in missing:
            print(f"{name}: not installed")
        else:
            print(f"{name}: {statistics.median(values):.1f} ms (median of {len(values)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
