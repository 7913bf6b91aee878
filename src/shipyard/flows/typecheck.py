"""Type checks that can be seen from annotations alone (lenient: unknown constructs pass)."""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from typing import Any

_LISTLIKE: tuple[Any, ...] = (
    list,
    tuple,
    cabc.Sequence,
    cabc.Iterable,
    cabc.Collection,
    cabc.MutableSequence,
)


def _unknown(tp: Any) -> bool:
    return tp is Any or tp is inspect.Parameter.empty or tp is None or isinstance(tp, typing.TypeVar)


def list_of(tp: Any, depth: int) -> Any:
    """``list[list[tp]]`` for depth 2 (the value a join over a mapped output receives)."""
    for _ in range(depth):
        tp = Any if _unknown(tp) else list[tp]
    return tp


def item_type(tp: Any) -> Any | None:
    """The element type of a list-like annotation; Any when unknown; None when surely not a list."""
    if _unknown(tp):
        return Any
    origin = typing.get_origin(tp) or tp
    if origin in (typing.Union, types.UnionType):
        return Any
    if origin in _LISTLIKE or (isinstance(origin, type) and issubclass(origin, (list, tuple))):
        args = typing.get_args(tp)
        return args[0] if args else Any
    if isinstance(origin, type) and origin in (int, float, str, bool, bytes, dict, type(None)):
        return None
    return Any


def compatible(produced: Any, expected: Any) -> bool:
    """Whether a value annotated ``produced`` may be passed where ``expected`` is annotated."""
    if _unknown(produced) or _unknown(expected):
        return True
    p_origin = typing.get_origin(produced) or produced
    e_origin = typing.get_origin(expected) or expected
    if e_origin in (typing.Union, types.UnionType):
        return any(compatible(produced, arg) for arg in typing.get_args(expected))
    if p_origin in (typing.Union, types.UnionType):
        return all(compatible(arg, expected) for arg in typing.get_args(produced))
    if p_origin is typing.Literal or e_origin is typing.Literal:
        return True
    if expected is float and produced is int:
        return True
    if not isinstance(p_origin, type) or not isinstance(e_origin, type):
        return True
    try:
        if not issubclass(p_origin, e_origin):
            return False
    except TypeError:
        return True
    p_args, e_args = typing.get_args(produced), typing.get_args(expected)
    if p_args and e_args and len(p_args) == len(e_args) and p_origin is not tuple:
        return all(compatible(p, e) for p, e in zip(p_args, e_args, strict=True))
    return True
