"""The one table renderer: what stays, what goes, what shrinks, at a given width."""

from __future__ import annotations

import io

from rich.console import Console

from batchcron.adapters.tables import Column, lines, render

COLUMNS = (
    Column("RUN"),
    Column("STATUS"),
    Column("WHEN", priority=1),
    Column("REASON", priority=2, free_text=True),
    Column("JOB", priority=3),
    Column("REF", wide=True),
)
ROW = ["parish-20261130T000000", "FAILED", "2026-11-30 01:00Z", "a reason " * 10, "parish", "main"]


def text_at(width: int, mode: str = "table") -> list[str]:
    return [line.plain for line in lines(COLUMNS, [ROW], width=width, mode=mode)]  # type: ignore[arg-type]


def test_lower_priority_columns_go_first_and_free_text_shrinks_with_an_ellipsis() -> None:
    header, _, row = text_at(70)
    assert header.split() == ["RUN", "STATUS", "WHEN", "REASON"]
    assert row.startswith("parish-20261130T000000  FAILED  2026-11-30 01:00Z  a reason")
    assert row.endswith("…") and len(row) == 70


def test_a_shorter_column_still_fits_where_a_longer_one_does_not() -> None:
    columns = (Column("RUN"), Column("LONG", priority=1), Column("SHORT", priority=2))
    (header, _, row) = [
        line.plain for line in lines(columns, [["r" * 20, "x" * 50, "y"]], width=40)
    ]
    assert header.split() == ["RUN", "SHORT"] and row.split() == ["r" * 20, "y"]


def test_when_the_fixed_columns_do_not_fit_each_row_takes_two_lines() -> None:
    columns = (Column("RUN"), Column("STATUS"), Column("EXIT", priority=1))
    run_id = "site-of-special-scientific-interest-20261130T000000123"
    found = [line.plain for line in lines(columns, [[run_id, "waiting: parish", "2"]], width=60)]
    assert found[0] == "RUN" and found[1].split() == ["STATUS", "EXIT"]
    assert found[3] == run_id and found[4] == "  waiting: parish  2"


def test_wide_keeps_every_column_whole_past_the_edge() -> None:
    header, _, row = text_at(60, "wide")
    assert header.split() == ["RUN", "STATUS", "WHEN", "REASON", "JOB", "REF"]
    assert " ".join(("a reason " * 10).split()) in row and "…" not in row


def test_off_a_terminal_rows_are_tab_separated_and_whole() -> None:
    buffer = io.StringIO()
    render(COLUMNS, [ROW], console=Console(file=buffer, force_terminal=False, width=60))
    header, row = buffer.getvalue().splitlines()
    assert header == "RUN\tSTATUS\tWHEN\tREASON\tJOB"
    assert row.split("\t")[3] == " ".join(("a reason " * 10).split())
