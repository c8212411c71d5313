"""DynamoDB items for the run store modules: (de)serialisation and the conflict error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ConflictError(RuntimeError):
    """A conditional write lost: someone else changed the item first."""


# --- (de)serialisation ---------------------------------------------------------------

_serializer: Any = None
_deserializer: Any = None


def _ser(value: Mapping[str, Any]) -> dict[str, Any]:
    global _serializer
    if _serializer is None:
        from boto3.dynamodb.types import TypeSerializer

        _serializer = TypeSerializer()
    return {key: _serializer.serialize(_plain(val)) for key, val in value.items()}


def _de(item: Mapping[str, Any]) -> dict[str, Any]:
    global _deserializer
    if _deserializer is None:
        from boto3.dynamodb.types import TypeDeserializer

        _deserializer = TypeDeserializer()
    return {key: _native(_deserializer.deserialize(val)) for key, val in item.items()}


def _plain(value: Any) -> Any:
    """Python value -> what TypeSerializer accepts (floats as Decimal, no empty sets)."""
    from decimal import Decimal

    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _native(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value
