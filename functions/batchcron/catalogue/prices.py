"""The price table cost estimates use: Fargate and Fargate Spot per vCPU-hour and GB-hour, by
region and CPU architecture (`prices.json`, with the date and page it was taken from), and the
catalogue's `defaults.prices` that overrides it. Pure but for reading the packaged table once.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from batchcron.records import Record, record
from batchcron.records import field as spec

TABLE_FILE = Path(__file__).with_name("prices.json")

Capacity = Literal["fargate", "fargate_spot"]
Architecture = Literal["x86_64", "arm64"]
CAPACITIES: tuple[str, ...] = ("fargate", "fargate_spot")
ARCHITECTURES: tuple[str, ...] = ("x86_64", "arm64")


@record(extra="forbid", frozen=True)
class PriceSettings(Record):
    """`defaults.prices`: which row of the table runs are priced at, or rates of your own (an
    EC2 compute environment's effective rate), and a discount (a negotiated one) on either."""

    capacity: Capacity = "fargate"
    architecture: Architecture | None = None  # None: the run's own (from its Batch events)
    region: str | None = None  # None: the run's job queue's region, else the deployment's
    vcpu_hour: float | None = spec(default=None, ge=0)
    gb_hour: float | None = spec(default=None, ge=0)
    discount_percent: float = spec(default=0, ge=0, le=100)

    def checked(self) -> None:
        if (self.vcpu_hour is None) != (self.gb_hour is None):
            raise ValueError("give both vcpu_hour and gb_hour, or neither")


@dataclass(frozen=True)
class Rate:
    """USD per vCPU-hour and per GB-hour, and where they came from (for the reader)."""

    vcpu_hour: float
    gb_hour: float
    source: str


@functools.cache
def table() -> dict[str, Any]:
    """The packaged price table (read once)."""
    loaded: dict[str, Any] = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    return loaded


def normal_architecture(value: str | None) -> Architecture:
    """Batch's `X86_64`/`ARM64` (or none: x86_64, Fargate's default) in the table's words."""
    return "arm64" if (value or "").lower() in ("arm64", "arm", "aarch64") else "x86_64"


def lookup(
    region: str,
    *,
    capacity: Capacity = "fargate",
    architecture: str | None = None,
    settings: PriceSettings | None = None,
    prices: dict[str, Any] | None = None,
) -> Rate | None:
    """The rate a run in `region` is priced at: the catalogue's own rates when it gives them,
    else the table's row for the region, capacity and architecture (the settings' choices
    first); less the settings' discount. None when the table has no such row."""
    settings = settings or PriceSettings()
    if settings.vcpu_hour is not None and settings.gb_hour is not None:
        rate = Rate(settings.vcpu_hour, settings.gb_hour, "defaults.prices")
    else:
        found = prices if prices is not None else table()
        where = settings.region or region
        arch = settings.architecture or normal_architecture(architecture)
        kind = settings.capacity if settings.capacity != "fargate" else capacity
        row = found.get("regions", {}).get(where, {}).get(kind, {}).get(arch)
        if not row:
            return None
        taken = found.get("taken", "?")
        name = "Fargate Spot" if kind == "fargate_spot" else "Fargate"
        rate = Rate(
            float(row["vcpu_hour"]),
            float(row["gb_hour"]),
            f"{name} {where} {arch} (price table of {taken})",
        )
    if settings.discount_percent:
        keep = 1 - settings.discount_percent / 100
        rate = Rate(
            rate.vcpu_hour * keep,
            rate.gb_hour * keep,
            f"{rate.source}, less {settings.discount_percent:g}%",
        )
    return rate
