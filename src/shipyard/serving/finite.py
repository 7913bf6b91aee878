"""Inputs a model cannot compute on: mapped back to a 422 that names the columns.

Every input value is finite and bounded before the model sees it (:data:`shipyard.serving.schema.
FLOAT_BOUNDS`: the square of any input stays finite). A model may still overflow on values inside
those bounds (a cube, an ``exp``, large weights). The rule: when the input is finite and the
model's answer for a row is not (``inf``/``NaN`` in its predictions or probabilities), or the model
raises an overflow (``OverflowError``, ``FloatingPointError``, or the "contains infinity or a value
too large" ``ValueError`` of scikit-learn's input checks), the values were out of the range the model
can take: the request gets **422** ``invalid_input`` (never a 500, never a 200 with ``null`` in
it), and the message names the columns holding that row's largest magnitudes, which is where an
overflow comes from. Any other model failure stays a 500.
"""

from __future__ import annotations

import math
from typing import Any

_SHOWN = 3  # columns named in a message


def non_finite_row(predictions: list[Any], probabilities: list[list[float]] | None) -> int | None:
    """The first row whose prediction or probabilities hold a non-finite float, else None."""
    for i, value in enumerate(predictions):
        if not _finite(value):
            return i
    if probabilities is not None:
        for i, row in enumerate(probabilities):
            if not _finite(row):
                return i
    return None


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def is_overflow(exc: BaseException) -> bool:
    """Whether a model's exception says its arithmetic overflowed on the input."""
    if isinstance(exc, (OverflowError, FloatingPointError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, ValueError) and ("infinity" in text or "too large" in text)


def overflow_message(columns: dict[str, list[Any]], row: int | None, what: str) -> str:
    """``what`` happened on ``row`` (None: somewhere in the request): name the columns with the
    largest magnitudes there, largest first."""
    largest: list[tuple[float, str, Any]] = []
    for name, values in columns.items():
        picked = values if row is None else values[row : row + 1]
        numbers = [v for v in picked if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            value = max(numbers, key=abs)
            largest.append((abs(float(value)), name, value))
    largest.sort(key=lambda item: item[0], reverse=True)
    where = "this input" if row is None else f"row {row}"
    if not largest:
        return f"the model cannot compute on {where}: {what}"
    named = ", ".join(f"column {name!r} ({value:.6g})" for _, name, value in largest[:_SHOWN])
    return (
        f"the values of {where} are out of the range the model can take ({what}); "
        f"its largest magnitudes: {named}"
    )
