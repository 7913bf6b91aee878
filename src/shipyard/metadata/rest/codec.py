"""The JSON wire form of the metadata entities, shared by the server and the REST client.

One generic rule set, driven by the dataclasses' type hints:

- dataclasses are objects with their field names; enums are their values; tuples are lists;
- datetimes are ISO 8601 strings with their UTC offset;
- a non-finite float (NaN, +inf, -inf) — which JSON cannot carry — is ``{"$float": "nan"}``
  (``"inf"``, ``"-inf"``) wherever it appears, in metric values and inside param values alike.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
import typing
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")
_MARK = "$float"
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def float_out(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {_MARK: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def float_in(value: Any) -> float:
    if isinstance(value, dict):
        text = value.get(_MARK)
        if isinstance(text, str) and text in _NONFINITE:
            return _NONFINITE[text]
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def to_wire(obj: Any) -> Any:
    """A JSON-ready form of ``obj`` (dataclasses, enums, datetimes, floats, containers)."""
    if obj is None or isinstance(obj, str | bool | int):
        return obj.value if isinstance(obj, enum.Enum) else obj
    if isinstance(obj, float):
        return float_out(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, datetime):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_wire(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_wire(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_wire(v) for v in obj]
    raise TypeError(f"cannot encode a {type(obj).__name__} for the wire")


def json_value_in(value: Any) -> Any:
    """A JSON value with its ``$float`` markers turned back into floats."""
    if isinstance(value, dict):
        if len(value) == 1 and _MARK in value:
            return float_in(value)
        return {k: json_value_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value_in(v) for v in value]
    return value


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_wire(tp: Any, data: Any) -> Any:
    """Decode ``data`` (from :func:`to_wire`) as type ``tp``; ValueError when it does not fit."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if data is None:
            return None
        return from_wire(args[0], data) if len(args) == 1 else json_value_in(data)
    if tp is Any:
        return json_value_in(data)
    if origin is dict:
        _, value_tp = typing.get_args(tp)
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        return {str(k): from_wire(value_tp, v) for k, v in data.items()}
    if origin in (list, tuple):
        item_tp = typing.get_args(tp)[0]
        if not isinstance(data, list):
            raise ValueError(f"expected a list, got {type(data).__name__}")
        items = [from_wire(item_tp, v) for v in data]
        return tuple(items) if origin is tuple else items
    if isinstance(tp, type):
        return _scalar_or_class(tp, data)
    raise ValueError(f"cannot decode type {tp!r}")


def _scalar_or_class(tp: type, data: Any) -> Any:
    if issubclass(tp, enum.Enum):
        return tp(data)
    if tp is datetime:
        if isinstance(data, datetime):
            return data
        if not isinstance(data, str):
            raise ValueError(f"expected an ISO 8601 time, got {data!r}")
        return datetime.fromisoformat(data)
    if tp is float:
        return float_in(data)
    if tp is bool:
        if not isinstance(data, bool):
            raise ValueError(f"expected true or false, got {data!r}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ValueError(f"expected an integer, got {data!r}")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise ValueError(f"expected a string, got {data!r}")
        return data
    if dataclasses.is_dataclass(tp):
        return decode(tp, data)
    raise ValueError(f"cannot decode type {tp.__name__}")


def decode(cls: type[T], data: Any) -> T:
    """Build dataclass ``cls`` from its wire form (unknown keys are ignored, missing ones default)."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(typing.cast(Any, cls))
    kwargs = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in data:
            kwargs[field.name] = from_wire(hints[field.name], data[field.name])
    return cls(**kwargs)
