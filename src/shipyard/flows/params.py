"""Flow parameters: read from the flow function's signature, coerced and validated by annotation.

Values come from Python (``hello.run(n=3)``) or the CLI (``-p n=3``: strings). Supported
annotations: ``str``, ``int``, ``float``, ``bool``, ``list[T]``, ``dict[str, T]``, ``T | None``,
``Literal[...]`` and ``Any`` (or none). CLI strings for lists and dicts are JSON (``-p lrs=[0.1,0.01]``)
or, for lists, comma-separated (``-p lrs=0.1,0.01``).
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import FlowError

_MISSING = inspect.Parameter.empty
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    annotation: Any  # a type or typing construct; Any when unannotated
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe(self) -> str:
        text = f"{self.name}: {type_name(self.annotation)}"
        return text if self.required else f"{text} = {self.default!r}"


def type_name(tp: Any) -> str:
    if tp is Any:
        return "Any"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def param_specs(fn: Callable[..., Any]) -> list[ParamSpec]:
    """The parameters of a flow function; FlowError for ``*args``/``**kwargs``."""
    hints = typing.get_type_hints(fn)
    specs = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise FlowError(f"flow {fn.__name__!r}: parameters must be named (no *{p.name} or **{p.name})")
        specs.append(ParamSpec(p.name, hints.get(p.name, Any), p.default))
    return specs


def coerce_params(flow_name: str, specs: list[ParamSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """Validated params with defaults filled in; FlowError on unknown, missing or mistyped ones."""
    by_name = {s.name: s for s in specs}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        known = ", ".join(s.describe() for s in specs) or "none"
        raise FlowError(
            f"flow {flow_name!r} has no parameter {', '.join(map(repr, unknown))}; parameters: {known}"
        )
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.name in given:
            out[spec.name] = coerce_value(flow_name, spec, given[spec.name])
        elif spec.required:
            raise FlowError(
                f"flow {flow_name!r} needs parameter {spec.describe()}; pass -p {spec.name}=VALUE"
            )
        else:
            out[spec.name] = spec.default
    return out


def parse_cli_params(pairs: list[str]) -> dict[str, str]:
    """``["n=3", "lr=0.1"]`` -> ``{"n": "3", "lr": "0.1"}``; FlowError for a pair without ``=``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FlowError(f"parameter {pair!r} is not KEY=VALUE (e.g. -p n=10)")
        out[key.strip()] = value
    return out


def coerce_value(flow_name: str, spec: ParamSpec, value: Any) -> Any:
    try:
        return _coerce(spec.annotation, value)
    except (ValueError, TypeError) as exc:
        raise FlowError(
            f"flow {flow_name!r}: parameter {spec.name!r} expects {type_name(spec.annotation)}, "
            f"got {value!r} ({exc})"
        ) from None


def _coerce(tp: Any, value: Any) -> Any:
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors) or "no matching type")
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise ValueError(f"choose one of {list(args)}")
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        items = _as_list(value)
        item_tp = args[0] if args else Any
        return [_coerce(item_tp, v) for v in items]
    if origin is dict or tp is dict:
        data = json.loads(value) if isinstance(value, str) else value
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(val_tp, v) for k, v in data.items()}
    if tp is bool:
        return _to_bool(value)
    if tp is int:
        if isinstance(value, bool):
            raise ValueError("a bool is not an int")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise ValueError("not an integer")
    if tp is float:
        if isinstance(value, bool):
            raise ValueError("a bool is not a float")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
        raise ValueError("not a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError("not a string")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if isinstance(value, str):
            return tp(value)
        raise ValueError(f"not a {tp.__name__}")
    return value


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            data = json.loads(text)
            if not isinstance(data, list):
                raise ValueError("not a JSON list")
            return data
        return [] if not text else [v.strip() for v in text.split(",")]
    raise ValueError("not a list")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("use true/false")
