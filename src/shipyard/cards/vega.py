"""The part of Vega-Lite a card draws itself: one view, inline ``data.values``, a ``mark`` of line,
bar, point/circle/square or area, ``x``/``y`` fields, ``x.bin`` (a histogram) and a ``color`` field
(one series per value). Such a spec becomes a chart component (:func:`as_chart`) drawn as SVG like
any other; anything else is shown as its JSON text. No Vega runtime (no script) is involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.cards.model import MAX_SERIES, chart_component
from shipyard.core.errors import InvalidInputError

_MARKS = {
    "line": "line",
    "area": "line",
    "bar": "bar",
    "point": "scatter",
    "circle": "scatter",
    "square": "scatter",
}


def _field(encoding: Mapping[str, Any], channel: str) -> tuple[str | None, Mapping[str, Any]]:
    spec = encoding.get(channel)
    if not isinstance(spec, Mapping):
        return None, {}
    name = spec.get("field")
    return (name if isinstance(name, str) else None), spec


def as_chart(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The chart component a spec draws as, or None when it uses more than this subset."""
    mark = spec.get("mark")
    mark_type = mark.get("type") if isinstance(mark, Mapping) else mark
    data = spec.get("data")
    encoding = spec.get("encoding")
    if not isinstance(mark_type, str) or mark_type not in _MARKS:
        return None
    if (
        not isinstance(data, Mapping)
        or not isinstance(data.get("values"), list)
        or not isinstance(encoding, Mapping)
    ):
        return None
    if any(k in spec for k in ("layer", "concat", "hconcat", "vconcat", "facet", "repeat", "transform")):
        return None
    records = [r for r in data["values"] if isinstance(r, Mapping)]
    x, x_spec = _field(encoding, "x")
    y, _ = _field(encoding, "y")
    colour, _ = _field(encoding, "color")
    title = spec.get("title") if isinstance(spec.get("title"), str) else ""
    try:
        if x_spec.get("bin") and x is not None:
            bins = x_spec["bin"].get("maxbins", 20) if isinstance(x_spec["bin"], Mapping) else 20
            return chart_component(
                "histogram", {x: [r.get(x) for r in records]}, x=x, title=title, bins=int(bins)
            )
        if x is None or y is None:
            return None
        kind = _MARKS[mark_type]
        if colour is None:
            columns = {x: [r.get(x) for r in records], y: [r.get(y) for r in records]}
            return chart_component(kind, columns, x=x, y=y, title=title)
        groups = list(dict.fromkeys(str(r.get(colour)) for r in records))[:MAX_SERIES]
        xs = list(dict.fromkeys(r.get(x) for r in records))
        if kind != "bar":
            xs = sorted(
                xs, key=lambda v: (not isinstance(v, int | float), v if isinstance(v, int | float) else 0)
            )
        index = {v: i for i, v in enumerate(xs)}
        columns = {x: xs, **{g: [None] * len(xs) for g in groups}}
        for r in records:
            group = str(r.get(colour))
            if group in columns and r.get(x) in index:
                columns[group][index[r.get(x)]] = r.get(y)
        return chart_component(kind, columns, x=x, y=groups, title=title)
    except (InvalidInputError, TypeError, ValueError):
        return None
