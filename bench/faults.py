"""Fault-injection counts: the campaigns `make test` asserts on (tests/fault_injection/), run
here with the same seeds so results.md reports what each tried and what came out."""

from __future__ import annotations

import time
from typing import Any

from bench.common import MotoServer, Row


def run(moto: MotoServer) -> tuple[list[Row], dict[str, Any]]:
    from tests.fault_injection import dependencies, stalls
    from tests.fault_injection.campaigns import CAMPAIGNS
    from tests.fault_injection.isolation import ISOLATION_CAMPAIGNS

    rows: list[Row] = []
    tallies: list[dict[str, Any]] = []
    for name, campaign in {
        **CAMPAIGNS,
        **ISOLATION_CAMPAIGNS,
        **dependencies.CAMPAIGNS,
        **stalls.CAMPAIGNS,
    }.items():
        started = time.monotonic()
        tally = campaign()
        seconds = time.monotonic() - started
        found = tally.as_dict()
        found["seconds"] = seconds
        tallies.append(found)
        clean = tally.lost == 0 and tally.duplicates == 0 and tally.done == tally.expected
        rows.append(
            Row(
                f"Faults: {tally.campaign}",
                f"{tally.done}/{tally.expected} right; {tally.attempted:,} tries, "
                f"{tally.faults:,} faults injected",
                "",
                "",
                f"lost {tally.lost}, duplicates {tally.duplicates} — "
                + ("met" if clean else "**missed**"),
                f"`.venv/bin/pytest tests/fault_injection -k test_{name}` (seed {tally.seed}); "
                "details in the table below",
            )
        )
    return rows, {"tallies": tallies}
