"""`python -m bench [--only SECTION ...]`: run the sections, write bench/results.md (and the raw
numbers to bench/.work/results.json). Never fails on a missed target: it reports it."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import WORK, MotoServer, Row, quiet_logs
from bench.report import write

Section = Callable[[MotoServer], tuple[list[Row], dict[str, Any]]]


def _sections() -> dict[str, Section]:
    from bench import coldstart, fanout, faults, jobstate, lag, package, scaling, ui, webhook

    return {
        "coldstart": coldstart.run,
        "scaling": scaling.run,
        "fanout": fanout.run,
        "lag": lag.run,
        "webhook": webhook.run,
        "jobstate": jobstate.run,
        "package": package.run,
        "faults": faults.run,
        "ui": ui.run,
    }


def main(argv: list[str] | None = None) -> int:
    sections = _sections()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=list(sections),
        help="run just this section (repeatable); results.md then holds only these rows",
    )
    options = parser.parse_args(argv)
    chosen = options.only or list(sections)
    quiet_logs()
    WORK.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    durations: dict[str, float] = {}
    moto = MotoServer()
    try:
        for name in chosen:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            # Powertools' metrics flush EMF lines to stdout; keep the console readable.
            with contextlib.redirect_stdout(io.StringIO()):
                section_rows, section_raw = sections[name](moto)
            durations[name] = time.monotonic() - started
            rows.extend(section_rows)
            raw[name] = section_raw
            for row in section_rows:
                print(f"  {row.figure}: {row.value} ({row.ratio}) {row.target}", file=sys.stderr)
    finally:
        moto.stop()
    (WORK / "results.json").write_text(
        json.dumps({"raw": raw, "durations": durations}, indent=1, default=str), encoding="utf-8"
    )
    path = write(rows, durations, raw, partial=options.only is not None)
    print(f"bench: wrote {path} in {sum(durations.values()):.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
