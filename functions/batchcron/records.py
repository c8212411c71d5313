"""Typed records: standard dataclasses checked against their own annotations.

batchcron's one validation approach (docs/performance.md says why it is not pydantic: ~80 ms
of imports on every cold start). A `Record` is a dataclass whose constructor and
`model_validate` coerce and check every field the way the package needs (pydantic's lax rules:
"5" is an int, 1 is true, a list is a tuple), collecting *every* problem into one
`RecordError` whose `errors()` name the path (`loc`), a kind (`type`), a message (`msg`) and,
for a check that raised, the exception (`ctx["error"]`).

    @record(extra="forbid", frozen=True)
    class Notify(Record):
        still_failing_every: int = field(default=5, ge=0)

Field checks: a classmethod marked `@check("name")` (after the type check) or
`@check("name", before=True)` (on the raw value); a record-wide check overrides
`Record.checked(self)`. Either raises ValueError. `model_dump` / `model_copy` keep
pydantic's names, so call sites read the same.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar, dataclass_transform

_MISSING = dataclasses.MISSING
_R = TypeVar("_R", bound="Record")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class RecordError(ValueError):
    """Every problem found validating one input."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self._errors = errors
        super().__init__(
            "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in errors)
        )

    def errors(self) -> list[dict[str, Any]]:
        return list(self._errors)


def field(
    *,
    default: Any = _MISSING,
    default_factory: Any = _MISSING,
    key: str | None = None,
    ge: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
) -> Any:
    """A dataclass field with an input `key` (when not its name) and bounds."""
    metadata = {"key": key, "ge": ge, "le": le, "min_length": min_length}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def check(*names: str, before: bool = False) -> Callable[[Any], Any]:
    """Mark `fn(cls, value) -> value` as the check of fields `names`."""

    def mark(fn: Any) -> Any:
        fn.__record_check__ = (names, before)
        return fn

    return mark


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
def record(
    *, extra: Literal["ignore", "forbid"] = "ignore", frozen: bool = False
) -> Callable[[type[_R]], type[_R]]:
    """Make a `Record` subclass a keyword-only dataclass; `extra`: unknown input keys."""

    def make(cls: type[_R]) -> type[_R]:
        cls.__record_extra__ = extra
        return dataclasses.dataclass(frozen=frozen, kw_only=True)(cls)

    return make


class _Field:
    __slots__ = (
        *("name", "key", "kind", "ge", "le", "min_length"),
        *("default", "factory", "before", "after"),
    )

    def __init__(self, spec: dataclasses.Field[Any], kind: Any) -> None:
        meta = spec.metadata
        self.name = spec.name
        self.key = meta.get("key") or spec.name
        self.kind = kind
        self.ge = meta.get("ge")
        self.le = meta.get("le")
        self.min_length = meta.get("min_length")
        self.default = spec.default
        self.factory = spec.default_factory
        self.before: list[Any] = []
        self.after: list[Any] = []

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.factory is _MISSING

    def fallback(self) -> Any:
        return self.factory() if self.factory is not _MISSING else self.default


class Record:
    """Base of every batchcron model (see the module's docstring)."""

    __record_extra__: typing.ClassVar[str] = "ignore"
    __record_fields__: typing.ClassVar[dict[type, list[_Field]]] = {}

    def __post_init__(self) -> None:
        values = {spec.name: getattr(self, spec.name) for spec in _fields(type(self))}
        coerced, errors = _check_fields(type(self), values, ())
        if errors:
            raise RecordError(errors)
        for name, value in coerced.items():
            object.__setattr__(self, name, value)
        _run_checked(self, ())

    def checked(self) -> None:
        """Record-wide checks, run once every field is valid; raise ValueError."""

    @classmethod
    def model_validate(cls: type[_R], data: Any) -> _R:
        """An instance from a mapping (input keys: a field's `key` or its name); RecordError
        lists every problem."""
        return _build(cls, data, ())

    def model_copy(self: _R, *, update: dict[str, Any] | None = None) -> _R:
        """A shallow copy with `update` applied as given (not checked, as pydantic's)."""
        clone = copy.copy(self)
        for name, value in (update or {}).items():
            object.__setattr__(clone, name, value)
        return clone

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] = "python",
        exclude_none: bool = False,
        include: set[str] | None = None,
    ) -> dict[str, Any]:
        """The fields as plain values (json mode: enums as values, tuples as lists, times as
        ISO text)."""
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            if include is not None and spec.name not in include:
                continue
            value = getattr(self, spec.name)
            if value is None and exclude_none:
                continue
            out[spec.name] = _dump(value, mode == "json", exclude_none)
        return out


def _dump(value: Any, json: bool, exclude_none: bool) -> Any:
    if isinstance(value, Record):
        return value.model_dump(mode="json" if json else "python", exclude_none=exclude_none)
    if isinstance(value, dict):
        return {key: _dump(item, json, exclude_none) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_dump(item, json, exclude_none) for item in value]
        return items if json or isinstance(value, list) else tuple(items)
    if json and isinstance(value, enum.Enum):
        return value.value
    if json and isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _fields(cls: type) -> list[_Field]:
    """The record's fields with resolved types and checks (worked out once per class)."""
    found = Record.__record_fields__.get(cls)
    if found is not None:
        return found
    hints = typing.get_type_hints(cls)
    found = [_Field(spec, hints[spec.name]) for spec in dataclasses.fields(cls)]
    by_name = {item.name: item for item in found}
    for klass in reversed(cls.__mro__):
        for attribute in vars(klass).values():
            marked = getattr(attribute, "__record_check__", None)
            if marked is None:
                continue
            names, before = marked
            bound = attribute.__get__(None, cls)  # a classmethod, bound to this class
            for name in names:
                (by_name[name].before if before else by_name[name].after).append(bound)
    Record.__record_fields__[cls] = found
    return found


def _build(cls: type[_R], data: Any, loc: tuple[Any, ...]) -> _R:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise RecordError([_error(loc, "model_type", "Input should be a valid dictionary")])
    fields = _fields(cls)
    present: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    known: set[str] = set()
    for item in fields:
        known.update((item.key, item.name))
        if item.key in data:
            present[item.name] = data[item.key]
        elif item.name in data:
            present[item.name] = data[item.name]
        elif item.required:
            errors.append(_error((*loc, item.key), "missing", "Field required"))
    coerced, problems = _check_fields(cls, present, loc)
    errors.extend(problems)
    if cls.__record_extra__ == "forbid":
        errors.extend(
            _error((*loc, key), "extra_forbidden", "Extra inputs are not permitted")
            for key in data
            if key not in known
        )
    if errors:
        raise RecordError(errors)
    instance = object.__new__(cls)
    for item in fields:
        value = coerced[item.name] if item.name in coerced else item.fallback()
        object.__setattr__(instance, item.name, value)
    _run_checked(instance, loc)
    return instance


def _run_checked(instance: Record, loc: tuple[Any, ...]) -> None:
    try:
        instance.checked()
    except ValueError as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError([_value_error(loc, exc)]) from None
    except _UNHOLDABLE as exc:
        raise RecordError(
            [_error(loc, "value_error", f"Value error, {_unholdable(exc)}")]
        ) from None


# What arithmetic, time and nesting raise on values outside what a field can hold: turned into
# the record's error, so outside input never escapes as another exception.
_UNHOLDABLE = (ArithmeticError, OSError, TypeError, RecursionError)


def _unholdable(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, ArithmeticError | OSError):
        return "number out of range"
    return "unsupported value"


def _check_fields(
    cls: type, values: dict[str, Any], loc: tuple[Any, ...]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    coerced: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for item in _fields(cls):
        if item.name not in values:
            continue
        where = (*loc, item.key)
        value = values[item.name]
        try:
            for fn in item.before:
                value = fn(value)
            value = _coerce(item.kind, value, where)
            _bounds(item, value, where)
            for fn in item.after:
                value = fn(value)
        except RecordError as exc:
            errors.extend(exc.errors())
            continue
        except ValueError as exc:
            errors.append(_value_error(where, exc))
            continue
        except _UNHOLDABLE as exc:  # a value no field can hold (1e400, deep nesting, ...)
            errors.append(_error(where, "value_error", f"Value error, {_unholdable(exc)}"))
            continue
        coerced[item.name] = value
    return coerced, errors


def _bounds(item: _Field, value: Any, loc: tuple[Any, ...]) -> None:
    if value is None:
        return
    if item.ge is not None and value < item.ge:
        message = f"Input should be greater than or equal to {item.ge}"
        raise RecordError([_error(loc, "greater_than_equal", message, ge=item.ge)])
    if item.le is not None and value > item.le:
        message = f"Input should be less than or equal to {item.le}"
        raise RecordError([_error(loc, "less_than_equal", message, le=item.le)])
    if item.min_length is not None and len(value) < item.min_length:
        message = f"String should have at least {item.min_length} character"
        raise RecordError([_error(loc, "string_too_short", message, min_length=item.min_length)])


def _error(loc: tuple[Any, ...], kind: str, msg: str, **ctx: Any) -> dict[str, Any]:
    return {"loc": loc, "type": kind, "msg": msg, "ctx": ctx}


def _value_error(loc: tuple[Any, ...], exc: ValueError) -> dict[str, Any]:
    return _error(loc, "value_error", f"Value error, {exc}", error=exc)


def _fail(loc: tuple[Any, ...], kind: str, msg: str, **ctx: Any) -> RecordError:
    return RecordError([_error(loc, kind, msg, **ctx)])


def _choices(values: Any) -> str:
    shown = [repr(value) for value in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _coerce(kind: Any, value: Any, loc: tuple[Any, ...]) -> Any:
    """`value` as `kind` under pydantic's lax rules, or RecordError."""
    if kind is Any:
        return value
    origin = typing.get_origin(kind)
    if origin is types.UnionType or origin is typing.Union:
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        if len(options) == 1:
            return _coerce(options[0], value, loc)
        for option in options:
            try:
                return _coerce(option, value, loc)
            except RecordError:
                continue
        raise _fail(loc, "union_type", "Input does not match any allowed type")
    if origin is Literal:
        allowed = typing.get_args(kind)
        if value in allowed and type(value) in {type(option) for option in allowed}:
            return value
        raise _fail(loc, "literal_error", f"Input should be {_choices(allowed)}", expected=allowed)
    if origin is list or origin is tuple:
        (item_kind, *_) = typing.get_args(kind) or (Any,)
        if not isinstance(value, list | tuple):
            name = "list" if origin is list else "tuple"
            raise _fail(loc, f"{name}_type", f"Input should be a valid {name}")
        items: list[Any] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(value):
            try:
                items.append(_coerce(item_kind, item, (*loc, index)))
            except RecordError as exc:
                errors.extend(exc.errors())
        if errors:
            raise RecordError(errors)
        return items if origin is list else tuple(items)
    if origin is dict:
        key_kind, value_kind = typing.get_args(kind) or (Any, Any)
        if not isinstance(value, dict):
            raise _fail(loc, "dict_type", "Input should be a valid dictionary")
        out: dict[Any, Any] = {}
        problems: list[dict[str, Any]] = []
        for key, item in value.items():
            try:
                out[_coerce(key_kind, key, (*loc, key))] = _coerce(value_kind, item, (*loc, key))
            except RecordError as exc:
                problems.extend(exc.errors())
        if problems:
            raise RecordError(problems)
        return out
    if isinstance(kind, type):
        if issubclass(kind, Record):
            return _build(kind, value, loc)
        if issubclass(kind, enum.Enum):
            try:
                return kind(value)
            except ValueError:
                members = [member.value for member in kind]
                raise _fail(loc, "enum", f"Input should be {_choices(members)}") from None
        if kind is str:
            if isinstance(value, str):
                return value
            raise _fail(loc, "string_type", "Input should be a valid string")
        if kind is bool:
            return _bool(value, loc)
        if kind is int:
            return _int(value, loc)
        if kind is float:
            return _float(value, loc)
        if kind is datetime:
            return _datetime(value, loc)
        if isinstance(value, kind):
            return value
    raise _fail(loc, "is_instance_of", f"Input should be an instance of {kind}")


def _bool(value: Any, loc: tuple[Any, ...]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    kind = "bool_parsing" if isinstance(value, str | int) else "bool_type"
    suffix = ", unable to interpret input" if kind == "bool_parsing" else ""
    raise _fail(loc, kind, f"Input should be a valid boolean{suffix}")


def _int(value: Any, loc: tuple[Any, ...]) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        if not _finite(value):
            raise _fail(loc, "finite_number", "Input should be a finite number")
        if value == int(value):
            return int(value)
        message = "Input should be a valid integer, got a number with a fractional part"
        raise _fail(loc, "int_from_float", message)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            message = "Input should be a valid integer, unable to parse string as an integer"
            raise _fail(loc, "int_parsing", message) from None
    raise _fail(loc, "int_type", "Input should be a valid integer")


def _float(value: Any, loc: tuple[Any, ...]) -> float:
    if isinstance(value, int | float | Decimal | str):
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except OverflowError:
            raise _fail(loc, "finite_number", "Input should be a finite number") from None
        except ValueError:
            message = "Input should be a valid number, unable to parse string as a number"
            raise _fail(loc, "float_parsing", message) from None
        if not _finite(number):
            raise _fail(loc, "finite_number", "Input should be a finite number")
        return number
    raise _fail(loc, "float_type", "Input should be a valid number")


def _finite(value: float | Decimal) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


def _datetime(value: Any, loc: tuple[Any, ...]) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            seconds = float(value)
            return datetime.fromtimestamp(seconds / 1000 if seconds > 2e10 else seconds, UTC)
        except (ArithmeticError, OSError, ValueError):
            raise _fail(loc, "datetime_range", "Input should be a datetime in range") from None
    if isinstance(value, str):
        try:  # the offset as given; naive stays naive (a caller may refuse it)
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
    raise _fail(loc, "datetime_parsing", "Input should be a valid datetime")
