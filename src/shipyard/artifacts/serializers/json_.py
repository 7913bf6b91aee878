"""JSON-able values, stored so that loading gives back exactly the value that was stored.

Plain JSON is used when it round-trips exactly (str-keyed dicts, lists, finite floats...), so the
blob stays readable by anything. Otherwise (tuples, sets, non-str dict keys, NaN/inf) a tagged form
is used, where every dict and special value is wrapped: ``{"$tuple": [...]}``, ``{"$dict": [[k, v],
...]}``, ``{"$float": "nan"}``. Exact types only: subclasses (IntEnum, numpy scalars, OrderedDict...)
fall through to the next serializer. Too deep or cyclic values fall through too.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shipyard.artifacts.cas import BlobWriter
from shipyard.artifacts.serializers.base import BlobSource, Dumped, Fallthrough, Serializer
from shipyard.core.errors import IntegrityError

MAX_DEPTH = 200
_MAX_INT_BITS = 4000 * 3  # str(int) refuses more than 4300 digits
_SCALARS = (type(None), bool, int, float, str)
_CONTAINERS = (list, dict, tuple, set, frozenset)


class _Special(Exception):
    """The value needs the tagged form."""


def _plain_ok(value: Any, depth: int) -> None:
    """Raise _Special if plain JSON would not round-trip; Fallthrough if nothing JSON can."""
    if depth > MAX_DEPTH:
        raise Fallthrough("too deeply nested (or cyclic) for JSON")
    kind = type(value)
    if kind is int and value.bit_length() > _MAX_INT_BITS:
        raise Fallthrough("integer too large for JSON")
    if kind is float and not math.isfinite(value):
        raise _Special
    if kind in _SCALARS:
        return
    if kind is list:
        for item in value:
            _plain_ok(item, depth + 1)
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise _Special
            _plain_ok(item, depth + 1)
        return
    if kind in (tuple, set, frozenset):
        raise _Special
    raise Fallthrough(f"{kind.__name__} is not JSON-able")


def _tag(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise Fallthrough("too deeply nested (or cyclic) for JSON")
    kind = type(value)
    if kind is float and not math.isfinite(value):
        return {"$float": repr(value)}  # 'nan', 'inf', '-inf'
    if kind is int and value.bit_length() > _MAX_INT_BITS:
        raise Fallthrough("integer too large for JSON")
    if kind in _SCALARS:
        return value
    if kind is list:
        return [_tag(item, depth + 1) for item in value]
    if kind is tuple:
        return {"$tuple": [_tag(item, depth + 1) for item in value]}
    if kind in (set, frozenset):
        items = [_tag(item, depth + 1) for item in value]
        return {"$set" if kind is set else "$frozenset": items}
    if kind is dict:
        return {"$dict": [[_tag(k, depth + 1), _tag(v, depth + 1)] for k, v in value.items()]}
    raise Fallthrough(f"{kind.__name__} is not JSON-able")


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ValueError(f"unexpected object in tagged JSON: {sorted(value)[:5]}")
    ((tag, body),) = value.items()
    if tag == "$float":
        return float(body)
    if tag == "$tuple":
        return tuple(_untag(item) for item in body)
    if tag == "$set":
        return {_untag(item) for item in body}
    if tag == "$frozenset":
        return frozenset(_untag(item) for item in body)
    if tag == "$dict":
        return {_untag(k): _untag(v) for k, v in body}
    raise ValueError(f"unknown tag {tag!r} in tagged JSON")


class JsonSerializer(Serializer):
    name = "json"

    def accepts(self, obj: object) -> bool:
        return type(obj) in _SCALARS or type(obj) in _CONTAINERS

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        try:
            _plain_ok(obj, 0)
            encoding, doc = "plain", obj
        except _Special:
            encoding, doc = "tagged", _tag(obj, 0)
        except RecursionError as exc:
            raise Fallthrough("too deeply nested for JSON") from exc
        text = json.dumps(doc, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        out.write(text.encode("utf-8"))
        return Dumped({"python_type": type(obj).__name__, "encoding": encoding})

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        doc = json.loads(blob.read_bytes())
        if meta.get("encoding") != "tagged":
            return doc
        try:
            return _untag(doc)
        except (ValueError, TypeError) as exc:
            raise IntegrityError(f"artifact {blob.label!r} is not valid tagged JSON: {exc}") from exc
