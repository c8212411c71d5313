"""`batchcron cost`: what runs cost (an estimate: docs/cost.md), per job or per day, with totals."""

from __future__ import annotations

import csv
import io
import os

import click

from batchcron.adapters import terminal
from batchcron.adapters.tables import Cell, Column, render
from batchcron.cli.app import cli, connect, parse_since, target_options
from batchcron.cli.target import TargetOptions
from batchcron.models import iso, utcnow

COST_COLUMNS = (
    Column("JOB"),
    Column("RUNS"),
    Column("FAILED", priority=2),
    Column("RUN TIME", priority=1),
    Column("COST"),
)


@cli.command()
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="Runs created since: an age (90m, 2h, 7d) or an ISO time.",
)
@click.option("--by", type=click.Choice(["job", "day"]), default="job", show_default=True)
@click.option(
    "-o",
    "--output",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Same as -o json.")
@target_options
def cost(target: TargetOptions, since: str, by: str, output_format: str, as_json: bool) -> int:
    """Estimated compute cost of runs per job (or per day), with the total: each attempt's
    running time × its vCPUs and memory × the price table (failed and retried attempts too)."""
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.outcomes.cost import cost_text, spend_by
    from batchcron.settings import settings

    parse_since(since, utcnow())  # a typing error before any target
    resolved = connect(target)
    start = iso(parse_since(since, utcnow())) or ""
    from batchcron.wiring import store

    region = resolved.region or os.environ.get("AWS_REGION") or settings().region
    catalogue = load_catalogue()
    rows = spend_by(store().runs_since(start), catalogue, region, by=by)
    total = sum(row.usd for row in rows)
    unpriced = sum(row.unpriced for row in rows)
    mode = "json" if as_json else output_format
    if mode == "json":
        terminal.print_json(
            {
                "since": start,
                "until": iso(utcnow()),
                "by": by,
                "currency": "USD",
                "estimate": True,
                "rows": [{by: row.key, **row.as_json()} for row in rows],
                "total_usd": round(total, 6),
                "total_runs": sum(row.runs for row in rows),
                "unpriced_runs": unpriced,
            }
        )
        return 0
    if mode == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([by, "runs", "failed", "seconds", "usd"])
        for row in rows:
            writer.writerow([row.key, row.runs, row.failed, round(row.seconds), f"{row.usd:.6f}"])
        writer.writerow(
            ["TOTAL", sum(r.runs for r in rows), sum(r.failed for r in rows), "", f"{total:.6f}"]
        )
        click.echo(buffer.getvalue(), nl=False)
        return 0
    if not rows:
        terminal.note(f"no runs since {terminal.when(start)}")
        return 0
    columns = (Column("DAY"), *COST_COLUMNS[1:]) if by == "day" else COST_COLUMNS
    cells: list[list[Cell]] = [
        [
            row.key,
            str(row.runs),
            str(row.failed),
            terminal.duration(row.seconds) if row.seconds else "-",
            cost_text(row.usd) + (" +?" if row.unpriced else ""),
        ]
        for row in rows
    ]
    cells.append(["TOTAL", str(sum(r.runs for r in rows)), "", "", cost_text(total)])
    render(columns, cells, mode="table")
    note = f"estimate since {terminal.when(start)} (docs/cost.md)"
    if unpriced:
        note += f"; {unpriced} run(s) not priced (size or region unknown: +?)"
    terminal.note(note)
    return 0
