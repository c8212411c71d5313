"""Listings in the shape the reader needs: a table that fits a terminal, plain lines for pipes.

On a terminal, identifiers (run ids, job names) are never cut; when the table is wider than the
terminal, whole columns go, lowest priority first, and free text is shortened with an ellipsis.
Off a terminal (a pipe, a file) every row is one line of tab-separated cells in a fixed column
order, with no colour and no padding, for scripts and `grep`. `-o wide` keeps every column;
`-o name` prints only the identifiers; `-o json` the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.text import Text

from batchcron.adapters import terminal

Mode = Literal["table", "wide", "name", "json"]
Cell = str | Text


@dataclass(frozen=True)
class Column:
    name: str
    priority: int = 0  # 0: always shown; higher numbers go first when space runs out
    wide: bool = False  # shown only with -o wide
    free_text: bool = False  # may be shortened with an ellipsis on a terminal


def plain(cell: Cell) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return " ".join(text.split()) or "-"


def visible(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int | None, mode: Mode
) -> list[int]:
    """Indexes of the columns to show: all in wide mode or off a terminal (`width` None),
    else as many as fit `width`, dropping the highest priority number first."""
    shown = [i for i, column in enumerate(columns) if mode == "wide" or not column.wide]
    if width is None or mode == "wide":
        return shown

    def needed(index: int) -> int:
        cells = [len(plain(row[index])) for row in rows]
        return max([len(columns[index].name), *cells])

    def total(indexes: list[int]) -> int:
        fixed = sum(min(needed(i), 20) if columns[i].free_text else needed(i) for i in indexes)
        return fixed + 2 * (len(indexes) - 1)

    droppable = sorted(
        (i for i in shown if columns[i].priority > 0),
        key=lambda i: (-columns[i].priority, -i),
    )
    while total(shown) > width and droppable:
        shown.remove(droppable.pop(0))
    return shown


def render(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    mode: Mode = "table",
    title: str | None = None,
) -> None:
    """Print `rows` (one cell per column) to stdout, as this module's docstring says."""
    console = terminal.out()
    if mode == "name":
        for row in rows:
            console.print(plain(row[0]), markup=False, highlight=False, soft_wrap=True)
        return
    if not console.is_terminal:
        shown = visible(columns, rows, None, mode)
        lines = ["\t".join(columns[i].name for i in shown)]
        lines += ["\t".join(plain(row[i]) for i in shown) for row in rows]
        console.file.write("\n".join(lines) + "\n")
        return
    shown = visible(columns, rows, console.width, mode)
    grid = terminal.empty_table(title)
    widths = {i: max([len(columns[i].name), *(len(plain(row[i])) for row in rows)]) for i in shown}
    free = [i for i in shown if columns[i].free_text and mode != "wide"]
    room = console.width - sum(widths[i] for i in shown if i not in free) - 2 * (len(shown) - 1)
    for i in shown:
        column = columns[i]
        if i in free:  # free text takes what is left, cut with an ellipsis
            share = max(room // len(free), len(column.name))
            grid.add_column(
                column.name, no_wrap=True, overflow="ellipsis", max_width=min(widths[i], share)
            )
        else:  # identifiers and short values: never cut
            grid.add_column(column.name, no_wrap=True, overflow="ignore", min_width=widths[i])
    for row in rows:
        grid.add_row(*(row[i] for i in shown))
    console.print(grid, soft_wrap=mode == "wide")
