"""One table renderer for every listing: the CLI's tables and local mode's live table and summary.

On a terminal the identifying column (a job or run id) and the status (priority 0) are never cut
or dropped. The other columns are added in priority order (1 first) while they fit; free-text
columns count at their minimum width and then share what is left, shortened with `…`. When even
the priority-0 columns do not fit on one line, each row takes two: the identifier, then the rest
indented under it. `-o wide` shows every column at full width and never wraps (lines may pass
the terminal's edge; for wide terminals and pipes). Off a terminal (a pipe, a file) every row is
one line of tab-separated cells in a fixed column order, with no colour and no padding, for
scripts and `grep`. `-o name` prints only the identifiers; `-o json` the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.text import Text

from batchcron.adapters import terminal

Mode = Literal["table", "wide", "name", "json"]
Cell = str | Text
GAP = 2
INDENT = 2
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    """A table column. `priority` 0: never cut or dropped (the identifier and the status);
    higher numbers are dropped first when space runs out. `free_text` cells may be shortened
    with an ellipsis, down to `min_width`. `wide` columns show only with `-o wide`."""

    name: str
    priority: int = 0
    wide: bool = False
    free_text: bool = False
    min_width: int = 12


def plain(cell: Cell) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return " ".join(text.split()) or "-"


def _cell(cell: Cell) -> Text:
    """One line of styled text (newlines and runs of blanks folded to one space)."""
    if isinstance(cell, Text):
        if "\n" in cell.plain or "  " in cell.plain:
            return Text(plain(cell), style=cell.style)
        return cell.copy() if cell.plain else Text("-")
    return Text(plain(cell))


@dataclass(frozen=True)
class Layout:
    """Which columns show and how wide each is; `stacked`: the first column on its own line."""

    shown: tuple[int, ...]
    widths: dict[int, int]
    stacked: bool = False


def _natural(columns: Sequence[Column], rows: Sequence[Sequence[Text]], index: int) -> int:
    return max([len(columns[index].name), *(len(row[index].plain) for row in rows)])


def layout(
    columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int | None, mode: Mode
) -> Layout:
    """The columns to show at `width` (None: no limit) and their widths."""
    cells = [[_cell(cell) for cell in row] for row in rows]
    return _layout(columns, cells, width, mode)


def _layout(
    columns: Sequence[Column], rows: Sequence[Sequence[Text]], width: int | None, mode: Mode
) -> Layout:
    candidates = [i for i, column in enumerate(columns) if mode == "wide" or not column.wide]
    natural = {i: _natural(columns, rows, i) for i in candidates}
    if width is None or mode == "wide":
        return Layout(tuple(candidates), natural)

    def least(index: int) -> int:
        column = columns[index]
        if not column.free_text:
            return natural[index]
        return min(natural[index], max(column.min_width, len(column.name)))

    def needed(indexes: Sequence[int]) -> int:
        return sum(least(i) for i in indexes) + GAP * max(len(indexes) - 1, 0)

    required = [i for i in candidates if columns[i].priority == 0]
    stacked = needed(required) > width and len(required) > 1
    room = width - INDENT if stacked else width
    # Stacked, the identifier has a line to itself; the other columns share the next one.
    chosen = required[1:] if stacked else list(required)
    for index in sorted(
        (i for i in candidates if columns[i].priority > 0), key=lambda i: (columns[i].priority, i)
    ):
        if needed([*chosen, index]) <= room:
            chosen.append(index)
    chosen.sort()
    widths = {i: least(i) for i in chosen}
    spare = room - needed(chosen)
    free = [i for i in chosen if columns[i].free_text and widths[i] < natural[i]]
    while spare > 0 and free:  # free text shares what is left, fairly
        share = max(spare // len(free), 1)
        for i in list(free):
            grow = min(share, natural[i] - widths[i], spare)
            widths[i] += grow
            spare -= grow
            if widths[i] >= natural[i]:
                free.remove(i)
            if spare <= 0:
                break
    shown = ([required[0]] if stacked else []) + chosen
    if stacked:
        widths[required[0]] = natural[required[0]]
    return Layout(tuple(shown), widths, stacked)


def _fit(text: Text, width: int) -> Text:
    if len(text.plain) <= width:
        return text
    cut = text.copy()
    cut.truncate(max(width - 1, 0))
    cut.append(ELLIPSIS)
    return cut


def _line(cells: Sequence[Text], widths: Sequence[int], indent: int = 0) -> Text:
    line = Text(" " * indent)
    for position, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        last = position == len(cells) - 1
        fitted = _fit(cell, width)
        line.append_text(fitted)
        if not last:
            line.append(" " * (width - len(fitted.plain) + GAP))
    line.rstrip()
    return line


def lines(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    width: int | None,
    mode: Mode = "table",
) -> list[Text]:
    """The table as lines of styled text: a bold header, a rule, one line (or two) per row."""
    cells = [[_cell(cell) for cell in row] for row in rows]
    plan = _layout(columns, cells, width, mode)
    header_style = "bold"
    if plan.stacked:
        first, rest = plan.shown[0], plan.shown[1:]
        rest_widths = [plan.widths[i] for i in rest]
        out = [
            Text(columns[first].name, style=header_style),
            _line([Text(columns[i].name, style=header_style) for i in rest], rest_widths, INDENT),
        ]
        rule = max(len(out[0].plain), len(out[1].plain))
        out.append(Text("─" * rule, style="dim"))
        for row in cells:
            out.append(row[first])
            out.append(_line([row[i] for i in rest], rest_widths, INDENT))
        return out
    widths = [plan.widths[i] for i in plan.shown]
    header = _line([Text(columns[i].name, style=header_style) for i in plan.shown], widths)
    out = [header, Text("─" * (sum(widths) + GAP * (len(widths) - 1)), style="dim")]
    out += [_line([row[i] for i in plan.shown], widths) for row in cells]
    return out


def render(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    mode: Mode = "table",
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """Print `rows` (one cell per column) to stdout, as this module's docstring says."""
    console = console or terminal.out()
    if mode == "name":
        for row in rows:
            console.print(plain(row[0]), markup=False, highlight=False, soft_wrap=True)
        return
    if not console.is_terminal:
        shown = [i for i, column in enumerate(columns) if mode == "wide" or not column.wide]
        text = ["\t".join(columns[i].name for i in shown)]
        text += ["\t".join(plain(row[i]) for i in shown) for row in rows]
        console.file.write("\n".join(text) + "\n")
        return
    if title:
        console.print(Text(title, style="bold"), soft_wrap=True)
    for line in lines(columns, rows, width=console.width, mode=mode):
        console.print(line, soft_wrap=True, highlight=False)
