"""batchcron.records: the one validation approach (dataclasses checked against annotations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

import pytest

from batchcron.records import Record, RecordError, check, field, record


class Colour(StrEnum):
    RED = "RED"
    BLUE = "BLUE"


@record(extra="forbid", frozen=True)
class Inner(Record):
    size: int = field(default=1, ge=1, le=10)
    tags: tuple[str, ...] = ()


@record()
class Outer(Record):
    name: str = field(min_length=1)
    count: int = 0
    ratio: float = 0.0
    flag: bool = False
    colour: Colour = Colour.RED
    mode: Literal["a", "b"] = "a"
    inner: Inner | None = None
    items: list[Inner] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    seen: datetime | None = None
    job_id: str | None = field(default=None, key="jobId")

    @check("name", before=True)
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @check("count")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even")
        return value

    def checked(self) -> None:
        if self.mode == "b" and self.inner is None:
            raise ValueError("mode b needs inner")


def errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(RecordError) as caught:
        Outer.model_validate(data)
    return [(error["loc"], error["type"]) for error in caught.value.errors()]


def test_lax_coercion_as_stored_items_and_yaml_need_it() -> None:
    outer = Outer.model_validate(
        {
            "name": " x ",
            "count": Decimal(4),
            "ratio": "1.5",
            "flag": "yes",
            "colour": "BLUE",
            "inner": {"size": 2.0, "tags": ["a"]},
            "items": ({"size": "3"},),
            "seen": "2024-01-01T12:00:00+01:00",
            "jobId": "j1",
            "unknown": "ignored",
        }
    )
    assert outer == Outer(
        name="x",
        count=4,
        ratio=1.5,
        flag=True,
        colour=Colour.BLUE,
        inner=Inner(size=2, tags=("a",)),
        items=[Inner(size=3)],
        seen=datetime(2024, 1, 1, 11, tzinfo=UTC),
        job_id="j1",
    )
    assert outer.seen is not None and outer.seen.utcoffset() == timedelta(hours=1)
    assert Outer.model_validate({"name": "x", "seen": "2024-01-01T12:00:00"}).seen.tzinfo is None  # type: ignore[union-attr]


def test_every_problem_is_reported_with_its_path() -> None:
    found = errors(
        {
            "count": "many",
            "flag": "maybe",
            "colour": "GREEN",
            "mode": "c",
            "inner": {"size": 0, "colour": "x"},
            "items": [{"size": 1}, "no"],
            "env": {"A": 1},
            "seen": "yesterday",
        }
    )
    assert found == [
        (("name",), "missing"),
        (("count",), "int_parsing"),
        (("flag",), "bool_parsing"),
        (("colour",), "enum"),
        (("mode",), "literal_error"),
        (("inner", "size"), "greater_than_equal"),
        (("inner", "colour"), "extra_forbidden"),
        (("items", 1), "model_type"),
        (("env", "A"), "string_type"),
        (("seen",), "datetime_parsing"),
    ]


def test_checks_and_bounds_raise_value_errors_with_the_exception() -> None:
    assert errors({"name": "x", "count": 3}) == [(("count",), "value_error")]
    assert errors({"name": ""}) == [(("name",), "string_too_short")]
    assert errors({"name": "x", "count": 1.5}) == [(("count",), "int_from_float")]
    with pytest.raises(RecordError) as caught:
        Outer.model_validate({"name": "x", "mode": "b"})
    [error] = caught.value.errors()
    assert (error["loc"], str(error["ctx"]["error"])) == ((), "mode b needs inner")


def test_the_constructor_checks_too() -> None:
    assert Outer(name="x", count="2").count == 2  # type: ignore[arg-type]
    with pytest.raises(RecordError):
        Inner(size=11)


def test_dump_and_copy() -> None:
    outer = Outer(name="x", colour=Colour.BLUE, inner=Inner(tags=("a",)))
    assert outer.model_dump(
        mode="json", exclude_none=True, include={"colour", "inner", "seen"}
    ) == {
        "colour": "BLUE",
        "inner": {"size": 1, "tags": ["a"]},
    }
    assert outer.model_dump()["inner"] == {"size": 1, "tags": ("a",)}
    changed = outer.model_copy(update={"count": 8})
    assert (changed.count, outer.count, changed.inner is outer.inner) == (8, 0, True)
    frozen = Inner(size=2)
    assert frozen.model_copy(update={"size": 5}).size == 5 and frozen.size == 2
