"""Signature checks that end in a float64 matrix, without pandas, for compiled plans.

:func:`enforce_matrix` answers exactly as :func:`shipyard.registry.signature.enforce` followed by
a conversion to a ``(rows, columns)`` float64 matrix in signature order. The common inputs of a
numeric signature are handled with numpy alone: a 2-D numeric array, a list of row dicts and a dict
of equal-length lists (or 1-D arrays) whose keys are exactly the signature's columns and whose
values are Python ints and floats (``None`` is NaN, as pandas reads it). Everything else (a
DataFrame, a missing or extra column, a string value, a bool...) goes through ``enforce`` itself,
so the answer and every error message are the ones the native model gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.registry.signature import Signature, _cast, enforce

if TYPE_CHECKING:
    import numpy as np


def enforce_matrix(sig: Signature, data: Any) -> np.ndarray[Any, Any]:
    """``data`` checked against ``sig`` (numeric columns), as a float64 matrix in signature order."""
    import numpy as np

    columns = _numpy_columns(sig, data)
    if columns is None:
        checked = enforce(sig, data)
        return np.asarray(checked.to_numpy() if hasattr(checked, "to_numpy") else checked, dtype="float64")
    cast = [_cast(values, col) for values, col in zip(columns, sig.inputs, strict=True)]
    return np.column_stack(cast).astype("float64", copy=False)


def _numpy_columns(sig: Signature, data: Any) -> list[np.ndarray[Any, Any]] | None:
    """One array per signature column, as pandas would have typed it; None: let ``enforce`` answer."""
    import numpy as np

    names = sig.column_names
    if isinstance(data, np.ndarray):
        if data.ndim != 2 or data.shape[1] != len(names) or data.dtype.kind not in "iuf":
            return None
        return [data[:, i] for i in range(data.shape[1])]
    if sig.input_kind != "dataframe":
        return None  # an array signature given records: rare, and enforce knows the rules
    if isinstance(data, Mapping):
        if [str(k) for k in data] != list(data) or set(data) != set(names):
            return None
        lengths = {len(v) if isinstance(v, list | tuple | np.ndarray) else -1 for v in data.values()}
        if len(lengths) != 1 or min(lengths) < 1:
            return None
        out = []
        for name in names:
            values = data[name]
            if isinstance(values, np.ndarray):
                if values.ndim != 1 or values.dtype.kind not in "iuf":
                    return None
                out.append(values)
                continue
            column = _typed(values)
            if column is None:
                return None
            out.append(column)
        return out
    if not isinstance(data, Sequence) or isinstance(data, str | bytes) or not data:
        return None
    wanted = set(names)
    for row in data:
        if not isinstance(row, Mapping) or len(row) != len(names) or set(row) != wanted:
            return None
    result = []
    for name in names:
        column = _typed([row[name] for row in data])
        if column is None:
            return None
        result.append(column)
    return result


def _typed(values: Sequence[Any]) -> np.ndarray[Any, Any] | None:
    """Python ints -> int64; ints, floats and None (at least one number) -> float64 with NaN, as
    pandas infers a column; anything else: None."""
    import numpy as np

    ints = True
    numbers = 0
    for value in values:
        if value is None:
            ints = False
            continue
        kind = type(value)
        if kind is int:
            numbers += 1
        elif kind is float or (isinstance(value, float) and not isinstance(value, bool)):
            ints = False
            numbers += 1
        else:
            return None
    if not numbers:
        return None
    if ints:
        try:
            return np.array(values, dtype="int64")
        except OverflowError:
            return None
    return np.array([np.nan if v is None else v for v in values], dtype="float64")
