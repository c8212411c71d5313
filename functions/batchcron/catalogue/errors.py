"""Catalogue errors: an unknown job name, and every problem found in a catalogue file."""

from __future__ import annotations

from dataclasses import dataclass


class UnknownJobError(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        import difflib

        self.name = name
        self.suggestions = difflib.get_close_matches(name, known, n=3)
        super().__init__(name)

    def __str__(self) -> str:
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        return f"unknown job {self.name!r}{hint}"


@dataclass(frozen=True)
class Problem:
    """One catalogue error: where and what."""

    job: str | None
    field: str | None
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        who = f"job {self.job!r}" if self.job else "catalogue"
        what = f", field {self.field!r}" if self.field else ""
        return f"{where}{who}{what}: {self.message}"


class CatalogueError(ValueError):
    """The catalogue is invalid; `problems` lists every error found."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {source}: {problem}" for problem in problems)
        super().__init__(f"{len(problems)} error(s) in the job catalogue:\n{lines}")
