"""Loading `jobs.yaml`: parse, validate every job, and report every error once, in line order,
with its line, job and field. `load_catalogue` prefers the compiled copy (`compiled.py`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchcron.catalogue.errors import CatalogueError, Problem, UnknownJobError
from batchcron.catalogue.model import (
    Catalogue,
    EnvironmentProblemsError,
    FieldProblemError,
    Job,
    cross_field_problems,
)
from batchcron.catalogue.prices import PriceSettings
from batchcron.records import RecordError

if TYPE_CHECKING:  # imported where YAML is read: a fresh compiled catalogue needs none
    import yaml

# The packaged catalogue: functions/jobs.yaml, beside the batchcron package.
DEFAULT_JOBS_FILE = Path(__file__).resolve().parents[2] / "jobs.yaml"

# Size limits: validation stays fast, and a catalogue this big is a mistake (a generated file,
# a paste gone wrong). README.md "The catalogue" documents them.
MAX_BYTES = 1024 * 1024
MAX_JOBS = 2000

TOP_LEVEL = {"defaults", "jobs"}


def parse_catalogue(text: str, source: str = "jobs.yaml") -> Catalogue:
    """Validate catalogue YAML text; raise CatalogueError listing every problem, in line order."""
    problems: list[Problem] = []
    catalogue = None
    with contextlib.suppress(_Stop):  # the problems found so far are the report
        catalogue = _parse(text, source, problems)
    if problems or catalogue is None:
        problems.sort(key=lambda problem: problem.line or 0)
        raise CatalogueError(source, problems)
    return catalogue


def _parse(text: str, source: str, problems: list[Problem]) -> Catalogue:
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        problems.append(
            Problem(None, None, f"the file is {size:,} bytes; the limit is {MAX_BYTES:,}", None)
        )
        raise _Stop
    import yaml

    try:
        root_node, data = _load(text, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        # libyaml words its errors differently: the pure-Python loader says where and what
        # in the words _yaml_problem knows (only a broken file pays for the second parse).
        try:
            root_node, data = _load(text, yaml.SafeLoader)
        except yaml.YAMLError as exc:
            problems.append(_yaml_problem(exc))
            raise _Stop from None
        except RecursionError:
            problems.append(Problem(None, None, "the file is nested too deeply to read", None))
            raise _Stop from None
    try:
        problems.extend(_duplicate_keys(root_node))
        lines = _key_lines(root_node)
    except RecursionError:
        problems.append(Problem(None, None, "the file is nested too deeply to read", None))
        raise _Stop from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem(None, None, "expected a mapping with 'jobs:'", 1))
        raise _Stop
    for key in data:
        if key not in TOP_LEVEL:
            problems.append(
                Problem(
                    None,
                    str(key),
                    "unknown top-level key (expected defaults, jobs)",
                    lines.get((key,)),
                )
            )
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append(Problem(None, "defaults", "expected a mapping", lines.get(("defaults",))))
        defaults = {}
    prices = _prices(defaults.pop("prices", None), lines, problems)
    for field in ("name", "repository"):
        if field in defaults:
            problems.append(
                Problem(
                    None, f"defaults.{field}", "cannot be a default", lines.get(("defaults", field))
                )
            )
    raw_jobs = data.get("jobs")
    if not isinstance(raw_jobs, dict) or not raw_jobs:
        problems.append(
            Problem(None, "jobs", "expected a mapping of job name to job", lines.get(("jobs",)))
        )
        raise _Stop
    if len(raw_jobs) > MAX_JOBS:
        problems.append(
            Problem(
                None,
                "jobs",
                f"{len(raw_jobs):,} jobs; the limit is {MAX_JOBS:,}",
                lines.get(("jobs",)),
            )
        )
        raise _Stop

    jobs: dict[str, Job] = {}
    for name, raw in raw_jobs.items():
        name = str(name)
        if not isinstance(raw, dict):
            problems.append(
                Problem(name, None, "expected a mapping of fields", lines.get(("jobs", name)))
            )
            continue
        if "name" in raw:
            problems.append(
                Problem(
                    name, "name", "the job's name is its key", lines.get(("jobs", name, "name"))
                )
            )
            continue
        merged = _merge(defaults, raw)
        try:
            jobs[name] = Job.model_validate({"name": name, **merged})
        except RecordError as exc:
            found = _problems(name, exc, lines, raw)
            problems.extend(found + _cross_field(name, merged, found, lines, raw))
    # A job with a bad field is still a job: `after:` naming it is no error of its own.
    problems.extend(check_after(jobs, lines, known={str(name) for name in raw_jobs}))
    if problems:
        raise _Stop
    return Catalogue(jobs=jobs, source=source, prices=prices)


def _prices(raw: Any, lines: dict[tuple[Any, ...], int], problems: list[Problem]) -> PriceSettings:
    """`defaults.prices` (not a job field: it prices every run), every problem reported."""
    if raw is None:
        return PriceSettings()
    line = lines.get(("defaults", "prices"))
    if not isinstance(raw, dict):
        problems.append(Problem(None, "defaults.prices", "expected a mapping of fields", line))
        return PriceSettings()
    try:
        return PriceSettings.model_validate(raw)
    except RecordError as exc:
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            field = ".".join(["defaults", "prices", *loc])
            where = lines.get(("defaults", "prices", *loc[:1])) or line
            problems.append(Problem(None, field, _in_catalogue_words(error, field), where))
    return PriceSettings()


def _load(text: str, loader_class: Any) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for key lines and duplicate keys) and its data, parsed once."""
    loader = loader_class(text)
    try:
        root_node = loader.get_single_node()
        data = loader.construct_document(root_node) if root_node is not None else None
    finally:
        loader.dispose()
    return root_node, data


def check_after(
    jobs: dict[str, Job],
    lines: dict[tuple[Any, ...], int],
    known: set[str] | None = None,
) -> list[Problem]:
    """Cross-job checks of `after`: upstreams exist (in `known`, every job named in the file,
    valid or not) and are enabled (a disabled one never runs, so its downstream would wait for
    ever), no job waits for itself, no cycles."""
    problems: list[Problem] = []
    known = set(jobs) if known is None else known
    edges: dict[str, list[str]] = {}
    for name, job in jobs.items():
        if job.after is None:
            continue
        line = lines.get(("jobs", name, "after", "jobs")) or lines.get(("jobs", name, "after"))
        for upstream in job.after.jobs:
            if upstream == name:
                problems.append(Problem(name, "after.jobs", "a job cannot run after itself", line))
            elif upstream not in known:
                hint = UnknownJobError(upstream, sorted(known))
                problems.append(Problem(name, "after.jobs", str(hint), line))
            elif upstream not in jobs:
                pass  # named in the file but invalid: its own error says why
            elif job.enabled and not jobs[upstream].enabled:
                message = (
                    f"{upstream} is disabled (enabled: false), so {name} would wait for it for "
                    f"ever: enable {upstream}, or take it out of {name}'s after.jobs"
                )
                problems.append(Problem(name, "after.jobs", message, line))
                edges.setdefault(name, []).append(upstream)
            else:
                edges.setdefault(name, []).append(upstream)
    reported: set[frozenset[str]] = set()
    for cycle in _cycles(edges):
        if frozenset(cycle) in reported:
            continue
        reported.add(frozenset(cycle))
        first = min(cycle)
        at = cycle.index(first)
        ordered = cycle[at:] + cycle[:at]
        path = " -> ".join([*ordered, first])
        line = lines.get(("jobs", first, "after", "jobs")) or lines.get(("jobs", first, "after"))
        problems.append(
            Problem(
                first, "after.jobs", f"dependency cycle: {path} (each runs after the next)", line
            )
        )
    return problems


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """Cycles in a `job -> upstreams` graph (one per back edge of a depth-first walk; iterative,
    so a long chain cannot exhaust the stack)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(edges):
        if root in state:
            continue
        path: list[str] = [root]
        todo: list[list[str]] = [list(edges.get(root, []))]
        state[root] = 1
        while todo:
            if not todo[-1]:
                state[path.pop()] = 2
                todo.pop()
                continue
            upstream = todo[-1].pop(0)
            if state.get(upstream) == 1:
                found.append(path[path.index(upstream) :])
            elif upstream not in state:
                state[upstream] = 1
                path.append(upstream)
                todo.append(list(edges.get(upstream, [])))
    return found


class _Stop(Exception):
    """Stop parsing: the problems found so far are the report."""


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    """One line in the catalogue's words, at the line where the mistake starts."""
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", "") or exc)
    context = str(getattr(exc, "context", "") or "")
    if "quoted scalar" in context and context_mark is not None:
        # Reported where the file ends; the mistake is where the quote opens.
        mark = context_mark
        message = "a quoted value is not closed (a missing ' or \")"
    elif "mapping values are not allowed" in problem:
        message = "unexpected ':' (quote a value that contains ': ')"
    elif "'\\t'" in problem or "tab" in problem:
        message = "a tab character: indent with spaces"
    elif "expected <block end>" in problem:
        message = "the indentation does not line up with the lines above"
    else:
        message = " ".join(f"{context} {problem}".split())
    line = mark.line + 1 if mark is not None else None
    return Problem(None, None, f"not valid YAML: {message}", line)


def _duplicate_keys(node: yaml.Node | None, path: tuple[str, ...] = ()) -> list[Problem]:
    """Every key given twice in one mapping (YAML keeps only the last), with both lines."""
    import yaml

    found: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                lines = f"lines {seen[key]} and {line}"
                if path == ("jobs",):
                    problem = Problem(key, None, f"defined twice ({lines})", line)
                elif path[:1] == ("jobs",):
                    field = ".".join((*path[2:], key))
                    problem = Problem(path[1], field, f"given twice ({lines})", line)
                else:
                    problem = Problem(None, ".".join((*path, key)), f"given twice ({lines})", line)
                found.append(problem)
            else:
                seen[key] = line
            found.extend(_duplicate_keys(value_node, (*path, key)))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found.extend(_duplicate_keys(item, path))
    return found


def _merge(defaults: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """Job fields over defaults; mappings (environment, notify, on_push) merge one level."""
    merged = dict(defaults)
    for key, value in job.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = {**base, **value}
        else:
            merged[key] = value
    return merged


def _problems(
    name: str, exc: RecordError, lines: dict[tuple[Any, ...], int], raw: dict[str, Any]
) -> list[Problem]:
    found = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, EnvironmentProblemsError):
            for key, message in ctx_error.problems:
                line = _line(name, [*loc, key], lines, raw)
                found.append(Problem(name, "environment", message, line))
            continue
        if isinstance(ctx_error, FieldProblemError):
            loc = ctx_error.field.split(".")
        field = ".".join(loc) if loc else None
        message = _in_catalogue_words(error, field)
        found.append(Problem(name, field, message, _line(name, loc, lines, raw)))
    return found


def _cross_field(
    name: str,
    merged: dict[str, Any],
    found: list[Problem],
    lines: dict[tuple[Any, ...], int],
    raw: dict[str, Any],
) -> list[Problem]:
    """The cross-field checks of a job whose fields have errors too (the record runs them only
    once every field is valid): each check whose fields are all valid, once."""
    bad = {problem.field for problem in found}
    seen = {(problem.field, problem.message) for problem in found}

    def value(field: str, default: Any) -> Any:
        return None if field in bad else merged.get(field, default)

    extra: list[Problem] = []
    checks = cross_field_problems(
        None if "script_sha256" in bad else value("script", "pipeline"),
        value("script_sha256", None),
        value("vcpus", 1),
        value("memory_mib", 2048),
    )
    for field, message in checks:
        if field in bad and (field, message) not in seen:
            continue  # that field's own error says it
        if (field, message) in seen:
            continue
        extra.append(Problem(name, field, message, _line(name, [field], lines, raw)))
    return extra


def _did_you_mean(field: str) -> str:
    """` (did you mean schedule?)` for a misspelt field, from the fields of its record."""
    import dataclasses
    import difflib

    from batchcron.catalogue.model import After, Notify, OnPush

    *parents, key = field.split(".")
    owner = {"on_push": OnPush, "after": After, "notify": Notify}.get(".".join(parents), Job)
    names = [item.name for item in dataclasses.fields(owner) if item.name != "name"]
    close = difflib.get_close_matches(key, names, n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _line(
    name: str, loc: list[str], lines: dict[tuple[Any, ...], int], raw: dict[str, Any]
) -> int | None:
    """The line of the deepest key of `loc` in the job (or in defaults, where it came from)."""
    for depth in range(len(loc), 0, -1):
        key = ("jobs", name, *loc[:depth])
        if key in lines:
            return lines[key]
        if loc[0] not in raw and ("defaults", *loc[:depth]) in lines:
            return lines[("defaults", *loc[:depth])]
    return lines.get(("jobs", name))


LIST_OF = {
    "on_push.branches": "branch globs",
    "on_push.paths": "path globs",
    "on_push.paths_ignore": "path globs",
}


def _in_catalogue_words(error: Any, field: str | None) -> str:
    """A record error's message, said the way the catalogue's reference says it."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown field" + _did_you_mean(field or "")
    if kind == "missing":
        return "required"
    if kind in ("tuple_type", "list_type", "set_type"):
        return f"expected a list of {LIST_OF.get(field or '', 'values')}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if field == "environment":
            return "expected a mapping of NAME: value"
        return "expected a mapping of fields"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "expected a whole number"
    if kind in ("float_parsing", "float_type"):
        return "expected a number"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if kind == "string_type":
        return "expected text"
    if kind in ("greater_than_equal", "greater_than") and "ge" in ctx:
        return f"must be at least {ctx['ge']}"
    if kind in ("less_than_equal", "less_than") and "le" in ctx:
        return f"must be at most {ctx['le']}"
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message.replace("Input should be", "expected")
    return " ".join(message.split())


def _key_lines(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each mapping-key path (as strings) to its 1-based line number."""
    import yaml

    found: dict[tuple[Any, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, str(key_node.value))
            found[key] = key_node.start_mark.line + 1
            found.update(_key_lines(value_node, key))
    return found


_cache: dict[tuple[str, float], Catalogue] = {}


def jobs_file() -> Path:
    """The catalogue path: env JOBS_FILE, else the packaged `jobs.yaml`."""
    return Path(os.environ.get("JOBS_FILE") or DEFAULT_JOBS_FILE)


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Load and validate the catalogue (cached per file and modification time): its compiled
    copy when that was made from exactly this file (compiled.py), else the YAML."""
    file = Path(path) if path is not None else jobs_file()
    try:
        stamp = file.stat().st_mtime
    except FileNotFoundError:
        raise CatalogueError(str(file), [Problem(None, None, "file not found")]) from None
    cached = _cache.get((str(file), stamp))
    if cached is None:
        from batchcron.catalogue.compiled import load_fresh

        data = file.read_bytes()
        cached = load_fresh(file, data) or parse_catalogue(
            data.decode("utf-8"), source=str(file.name)
        )
        _cache.clear()
        _cache[(str(file), stamp)] = cached
    return cached
