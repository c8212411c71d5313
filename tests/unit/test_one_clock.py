"""One clock: product code takes the time of day only from `batchcron.models.utcnow`.

A scan of the package's syntax trees fails on any other use of the wall clock — `datetime.now`,
`datetime.utcnow`, `datetime.today`, `date.today`, `time.time` (and `time_ns`, and `localtime`,
`gmtime`, `ctime` or `strftime` without a time to convert) — called or passed along, however it
was imported. `time.monotonic` (timeouts, budgets) is not the time of day and stays allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batchcron import models

PACKAGE = Path(models.__file__).resolve().parent
CLOCK = (PACKAGE / "models.py", "utcnow")  # the one function allowed to read the wall clock

# module -> names in it that read the wall clock (by themselves, or without an argument)
READERS = {
    "datetime.datetime": {"now", "utcnow", "today"},
    "datetime.date": {"today"},
    "time": {"time", "time_ns"},
}
NO_ARGUMENT_READERS = {"time": {"localtime", "gmtime", "ctime"}}
ONE_ARGUMENT_READERS = {"time": {"strftime"}}  # strftime(format) formats the time now


def _qualified(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """`datetime.now` -> 'datetime.datetime.now' through the module's imports, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it stands for, from every import in the module."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


def _reader(name: str, arguments: int | None) -> bool:
    """Does `name` (qualified) read the wall clock, called with `arguments` (None: not called)?"""
    module, _, attr = name.rpartition(".")
    if attr in READERS.get(module, ()):
        return True
    if arguments is None:
        return False
    if attr in NO_ARGUMENT_READERS.get(module, ()) and arguments == 0:
        return True
    return attr in ONE_ARGUMENT_READERS.get(module, ()) and arguments == 1


def clock_reads(source: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, what) for each wall-clock read in `source`, outside the one clock function."""
    tree = ast.parse(source, filename=str(path))
    aliases = _aliases(tree)
    allowed: set[int] = set()
    if path == CLOCK[0]:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == CLOCK[1]:
                allowed.update(id(inner) for inner in ast.walk(node))
    called = {
        id(node.func): len(node.args) for node in ast.walk(tree) if isinstance(node, ast.Call)
    }
    for node in ast.walk(tree):
        if id(node) in allowed or not isinstance(node, ast.Attribute | ast.Name):
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            continue
        name = _qualified(node, aliases)
        if name is None:
            continue
        arguments = called.get(id(node))
        if _reader(name, arguments):
            yield node.lineno, name + ("()" if arguments is not None else "")


def package_reads() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, what in clock_reads(path.read_text(encoding="utf-8"), path):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {what}")
    return found


def test_product_code_reads_the_time_only_from_the_one_clock() -> None:
    found = package_reads()
    assert not found, (
        "read the time from batchcron.models.utcnow (docs/clock.md), not directly:\n"
        + "\n".join(found)
    )


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import UTC, datetime\nx = datetime.now(UTC)",
        "import datetime\nx = datetime.datetime.utcnow()",
        "from datetime import date\nx = date.today()",
        "import datetime as dt\nx = dt.date.today()",
        "import time\nx = time.time()",
        "from time import time\nx = time()",
        "from time import time as wall\nx = wall()",
        "import time\nx = time.time_ns()",
        "import time\nx = time.strftime('%H:%M')",
        "import time\nx = time.localtime()",
        "from datetime import datetime\nclock = datetime.now",  # passed along, not called
        "from datetime import datetime\ndef f(clock=datetime.now): ...",
    ],
)
def test_the_scan_finds_a_direct_read(source: str) -> None:
    assert list(clock_reads(source, PACKAGE / "cli" / "example.py"))


@pytest.mark.parametrize(
    "source",
    [
        "import time\nx = time.monotonic()",
        "import time\ntime.sleep(1)",
        "import time\nx = time.strftime('%H:%M', time.gmtime(0))",
        "from datetime import UTC, datetime\nx = datetime.fromtimestamp(0, UTC)",
        "from batchcron.models import utcnow\nx = utcnow()",
        "now = 3\nx = now",
    ],
)
def test_the_scan_leaves_other_uses_alone(source: str) -> None:
    assert not list(clock_reads(source, PACKAGE / "cli" / "example.py"))


def test_only_the_clock_function_itself_may_read_the_wall_clock() -> None:
    source = (PACKAGE / "models.py").read_text(encoding="utf-8")
    assert not list(clock_reads(source, PACKAGE / "models.py"))
    assert list(clock_reads(source, PACKAGE / "elsewhere.py"))  # the same call anywhere else


def test_a_set_clock_starts_at_the_instant_and_runs_at_real_speed() -> None:
    start = datetime(2027, 3, 1, 0, 20, tzinfo=UTC)
    try:
        offset = models.set_clock(start)
        first = models.utcnow()
        assert abs(first - start) < timedelta(seconds=5)
        assert models.utcnow() >= first  # it runs on
        assert models.clock_offset() == offset
    finally:
        models.set_clock(None)
    assert models.clock_offset() == timedelta(0)
    assert abs(models.utcnow() - datetime.now(UTC)) < timedelta(seconds=5)
