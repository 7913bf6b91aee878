"""Model signatures: inferred from an input example, enforced before every ``predict``.

A signature lists the input columns (name, type, per-row shape) and what ``predict`` returns.
Inputs are accepted as a pandas DataFrame, a dict of columns, a list of row dicts, or a numpy
array (2-D for column models, any rank for tensor models).

Enforcement rules (applied to every call, before the model sees the data):

- every signature column must be present; a missing column is a :class:`SignatureError` naming it;
- an extra column is a :class:`SignatureError` naming it (drop it before calling ``predict``);
- column types must match, except these safe casts, which are applied silently:
  integer -> float (any width), integer -> wider/narrower integer when every value fits,
  float32 <-> float64, and ``object`` columns whose values are all ``str`` -> string;
- bool is never cast to or from a number, float is never cast to integer, and a string is never
  parsed as a number: these are errors naming the column, the expected and the actual type;
- a 2-D numpy array is matched to the columns by position and must have exactly as many columns;
- tensor inputs must have the recorded per-row shape (``-1`` means any size).

The model receives a DataFrame with the columns in signature order when it was logged with a
DataFrame or dict example, and a numpy array when it was logged with an array example.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: signature column types, and which numpy kinds each accepts
COLUMN_TYPES = ("bool", "int32", "int64", "float32", "float64", "string", "datetime", "binary")
_MAX_EXAMPLE_ROWS = 20


class SignatureError(InvalidInputError):
    """The data passed to ``predict`` does not match the model's signature."""

    code = "invalid_input"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str  # one of COLUMN_TYPES
    shape: tuple[int, ...] = ()  # per-row shape; () for a scalar column

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.shape:
            out["shape"] = list(self.shape)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        return cls(str(data["name"]), str(data["type"]), tuple(int(x) for x in data.get("shape", ())))


@dataclass(frozen=True)
class Signature:
    """What a model takes and returns. ``input_kind``: ``dataframe`` | ``ndarray`` | ``tensor``."""

    inputs: tuple[ColumnSpec, ...]
    input_kind: str = "dataframe"
    outputs: dict[str, Any] = field(default_factory=dict)  # {"kind":..., "type":..., "shape":[...]}

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_kind": self.input_kind,
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": dict(self.outputs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        return cls(
            inputs=tuple(ColumnSpec.from_dict(c) for c in data.get("inputs", [])),
            input_kind=str(data.get("input_kind", "dataframe")),
            outputs=dict(data.get("outputs") or {}),
        )

    def describe(self) -> str:
        """One line per column, for cards and error messages."""
        lines = []
        for col in self.inputs:
            shape = f" shape {list(col.shape)}" if col.shape else ""
            lines.append(f"{col.name}: {col.type}{shape}")
        return "\n".join(lines)


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ---- inference --------------------------------------------------------------------------------
def _column_type(values: np.ndarray[Any, Any], name: str) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int32" if values.dtype.itemsize <= 4 and kind == "i" else "int64"
    if kind == "f":
        return "float32" if values.dtype.itemsize <= 4 else "float64"
    if kind == "M":
        return "datetime"
    if kind in "US":
        return "string" if kind == "U" else "binary"
    if kind == "O" or values.dtype.name in ("string", "str"):
        sample = [v for v in values[:100].tolist() if not _is_null(v)]
        if all(isinstance(v, str) for v in sample):
            return "string"
        if all(isinstance(v, bytes) for v in sample):
            return "binary"
    raise InvalidInputError(
        f"cannot infer a signature type for column {name!r} (dtype {values.dtype}); "
        "use bool, integer, float, string or datetime columns"
    )


def as_frame(data: Any, what: str = "input") -> pd.DataFrame:
    """A DataFrame from a DataFrame, a dict of columns or a list of row dicts."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({str(k): v for k, v in data.items()})
        except ValueError as exc:
            raise InvalidInputError(
                f"{what}: the columns of the dict must have equal lengths ({exc})"
            ) from None
    is_rows = isinstance(data, Sequence) and not isinstance(data, str | bytes)
    if is_rows and data and isinstance(data[0], Mapping):
        return pd.DataFrame(list(data))
    raise InvalidInputError(
        f"{what} must be a pandas DataFrame, a dict of columns, a list of row dicts or a numpy array; "
        f"got {type(data).__name__}"
    )


def infer_signature(example: Any, columns: Sequence[str] | None = None) -> Signature:
    """The input part of a signature, from an example (see module doc for accepted forms)."""
    import numpy as np

    if isinstance(example, np.ndarray):
        if example.ndim == 2:
            names = list(columns) if columns is not None else [f"c{i}" for i in range(example.shape[1])]
            if len(names) != example.shape[1]:
                raise InvalidInputError(
                    f"{len(names)} column names given for an array with {example.shape[1]} columns"
                )
            ctype = _column_type(example, "array")
            return Signature(tuple(ColumnSpec(n, ctype) for n in names), input_kind="ndarray")
        if example.ndim < 2:
            raise InvalidInputError("an array input example must have a batch axis: shape (rows, ...)")
        spec = ColumnSpec("input", _column_type(example.reshape(-1), "input"), (*example.shape[1:],))
        return Signature((spec,), input_kind="tensor")
    frame = as_frame(example, "input_example")
    if frame.empty and len(frame.columns) == 0:
        raise InvalidInputError("input_example has no columns")
    specs = []
    for name in frame.columns:
        col = frame[name]
        values = col.to_numpy()
        if values.dtype.kind == "O" and len(values) and isinstance(values[0], np.ndarray):
            first = values[0]
            specs.append(ColumnSpec(str(name), _column_type(first.reshape(-1), str(name)), (*first.shape,)))
            continue
        specs.append(ColumnSpec(str(name), _column_type(values, str(name))))
    return Signature(tuple(specs), input_kind="dataframe")


def output_spec(prediction: Any) -> dict[str, Any]:
    """Describe what ``predict`` returned on the input example."""
    import numpy as np
    import pandas as pd

    if isinstance(prediction, pd.DataFrame):
        return {"kind": "dataframe", "columns": [str(c) for c in prediction.columns]}
    if isinstance(prediction, pd.Series):
        prediction = prediction.to_numpy()
    arr = np.asarray(prediction)
    try:
        ptype = _column_type(arr.reshape(-1), "output")
    except InvalidInputError:
        ptype = str(arr.dtype)
    return {"kind": "ndarray", "type": ptype, "shape": [-1, *arr.shape[1:]]}


def example_rows(example: Any) -> Any:
    """At most the first few rows of an example (what the package keeps)."""
    import numpy as np

    if isinstance(example, np.ndarray):
        return example[:_MAX_EXAMPLE_ROWS]
    return as_frame(example, "input_example").head(_MAX_EXAMPLE_ROWS)


# ---- enforcement ------------------------------------------------------------------------------
def _cast(values: np.ndarray[Any, Any], col: ColumnSpec) -> np.ndarray[Any, Any]:
    import numpy as np

    kind = values.dtype.kind
    want = col.type
    got = str(values.dtype)
    if want == "bool":
        if kind == "b":
            return values
    elif want in ("int32", "int64"):
        if kind in "iu":
            info = np.iinfo(np.dtype(want))
            if values.size == 0 or (values.min() >= info.min and values.max() <= info.max):
                return values.astype(want, copy=False)
            raise SignatureError(f"column {col.name!r}: values do not fit in {want}")
    elif want in ("float32", "float64"):
        if kind in "iuf":
            return values.astype(want, copy=False)
    elif want == "string":
        if kind == "U":
            return values.astype(object)
        if kind == "O" or values.dtype.name in ("string", "str"):
            bad = [v for v in values.tolist() if not (isinstance(v, str) or v is None)]
            if not bad:
                return values.astype(object)
            got = f"{type(bad[0]).__name__} values"
    elif want == "datetime":
        if kind == "M":
            return values
    elif want == "binary" and kind in ("S", "O"):
        return values
    raise SignatureError(
        f"column {col.name!r} has type {got} but the model expects {want}; "
        "convert it first (allowed casts: integer -> float, between float widths, between integer widths)"
    )


def _check_columns(present: Sequence[str], sig: Signature) -> None:
    expected = sig.column_names
    missing = [c for c in expected if c not in present]
    if missing:
        raise SignatureError(
            f"input is missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
            f"the model expects {expected}"
        )
    extra = [c for c in present if c not in expected]
    if extra:
        raise SignatureError(
            f"input has unexpected column{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}; "
            f"the model expects only {expected} (drop the others)"
        )


def _exact(dtype: Any, col: ColumnSpec) -> bool:
    """Whether a column of ``dtype`` already is what ``col`` wants (no cast, no per-value check)."""
    want = col.type
    if col.shape:
        return False
    if want in ("bool", "int32", "int64", "float32", "float64"):
        return bool(dtype == want)
    if want == "datetime":
        return bool(dtype.kind == "M")
    if want == "string":
        return str(getattr(dtype, "name", "")) in ("string", "str")
    return False


def enforce(sig: Signature, data: Any) -> Any:
    """Validate ``data`` against ``sig`` and return it in the form the model was trained on."""
    import numpy as np
    import pandas as pd

    # fast path (the common case in serving): already exactly right, returned as is
    if sig.input_kind == "dataframe" and isinstance(data, pd.DataFrame):
        if list(data.columns) == sig.column_names and all(
            _exact(dt, c) for dt, c in zip(data.dtypes, sig.inputs, strict=True)
        ):
            return data
    elif (
        sig.input_kind == "ndarray"
        and isinstance(data, np.ndarray)
        and (
            data.ndim == 2
            and data.shape[1] == len(sig.inputs)
            and all(_exact(data.dtype, c) for c in sig.inputs)
        )
    ):
        return data

    if sig.input_kind == "tensor":
        col = sig.inputs[0]
        arr = np.asarray(data) if not isinstance(data, np.ndarray) else data
        rest = arr.shape[1:]
        if len(rest) != len(col.shape) or any(w not in (-1, g) for w, g in zip(col.shape, rest, strict=True)):
            raise SignatureError(
                f"input has per-row shape {list(rest)} but the model expects {list(col.shape)}"
            )
        return _cast(arr, col)
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise SignatureError(f"a numpy input must be 2-D (rows, columns); got shape {list(data.shape)}")
        if data.shape[1] != len(sig.inputs):
            raise SignatureError(
                f"input array has {data.shape[1]} columns but the model expects {len(sig.inputs)}: "
                f"{sig.column_names}"
            )
        frame = pd.DataFrame(data, columns=sig.column_names)
    else:
        frame = as_frame(data)
        _check_columns([str(c) for c in frame.columns], sig)
    if sig.input_kind == "ndarray":
        cols = [_cast(frame[c.name].to_numpy(), c) for c in sig.inputs]
        return np.column_stack(cols) if cols else np.empty((len(frame), 0))
    out = {}
    for c in sig.inputs:
        values = frame[c.name].to_numpy()
        if c.shape:
            out[c.name] = values  # array-valued column: checked by the model
            continue
        out[c.name] = _cast(values, c)
    return pd.DataFrame(out, index=frame.index)
