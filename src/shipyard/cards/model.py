"""A card: a report built from components (markdown, tables, charts, Vega-Lite, images), kept as a
bounded JSON document.

The document is plain data: ``{"version": 1, "title": str, "components": [...]}``, each component a
dict with a ``type``. Everything is bounded where it is added (components per card, characters of
text, rows and columns of a table, points of a chart, bytes of an image, bytes of the whole
document): long text and tables are cut with a note saying so, an image or document past its
limit is a one-line InvalidInputError. Nothing here renders HTML: :mod:`shipyard.cards.render` does,
from the document alone, escaping every string (so a stored card is safe to show whatever it holds).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.core.errors import InvalidInputError

FORMAT_VERSION = 1
MAX_COMPONENTS = 500
MAX_TEXT = 100_000  # characters of one markdown component
MAX_TITLE = 300
MAX_ROWS = 1_000  # rows of a table kept
MAX_COLUMNS = 50
MAX_CELL = 1_000  # characters of one table cell
MAX_SERIES = 20
MAX_POINTS = 5_000  # points of one chart series kept (thinned evenly beyond)
MAX_BINS = 200
MAX_IMAGE_BYTES = 5 << 20
MAX_VEGA_BYTES = 1 << 20
MAX_DOCUMENT_BYTES = 16 << 20
CHART_KINDS = ("line", "bar", "histogram", "scatter")
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def image_mime(data: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` when the bytes start like one; else None."""
    for magic, mime in IMAGE_TYPES.items():
        if data.startswith(magic):
            return mime
    return None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cell_value(value: Any) -> str | int | float | bool | None:
    """A table cell as JSON-able data: numbers and booleans kept, others as (bounded) text."""
    if value is None or isinstance(value, bool | int | str):
        return _cut(value, MAX_CELL) if isinstance(value, str) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and type(value).__module__ == "numpy":
        try:
            return cell_value(item())
        except (TypeError, ValueError):
            pass
    return _cut(str(value), MAX_CELL)


def _number(value: Any) -> float | None:
    """A chart coordinate: a finite float, else None (a gap)."""
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def table_data(data: Any, headers: Sequence[str] | None = None) -> tuple[list[str], list[list[Any]], int]:
    """(columns, rows, total rows) of a DataFrame (pandas, polars), Arrow table, mapping of
    columns, list of dicts or list of rows (``headers`` names their columns)."""
    if hasattr(data, "to_dict") and hasattr(data, "columns") and hasattr(data, "itertuples"):  # pandas
        columns = [str(c) for c in data.columns]
        total = len(data)
        rows = [list(r) for r in data.head(MAX_ROWS).itertuples(index=False, name=None)]
        return columns, rows, total
    if hasattr(data, "to_pylist") and hasattr(data, "column_names"):  # pyarrow
        columns = [str(c) for c in data.column_names]
        total = data.num_rows
        records = data.slice(0, MAX_ROWS).to_pylist()
        return columns, [[rec.get(c) for c in data.column_names] for rec in records], total
    if hasattr(data, "rows") and hasattr(data, "columns") and hasattr(data, "head"):  # polars
        columns = [str(c) for c in data.columns]
        return columns, [list(r) for r in data.head(MAX_ROWS).rows()], len(data)
    if isinstance(data, Mapping):
        columns = [str(c) for c in data]
        values = [list(v) for v in data.values()]
        total = max((len(v) for v in values), default=0)
        rows = [[v[i] if i < len(v) else None for v in values] for i in range(min(total, MAX_ROWS))]
        return columns, rows, total
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        items = list(data)
        if items and all(isinstance(r, Mapping) for r in items):
            columns = []
            for record in items[:MAX_ROWS]:
                columns += [str(k) for k in record if str(k) not in columns]
            rows = [[r.get(c) for c in columns] for r in items[:MAX_ROWS]]
            return columns, rows, len(items)
        if all(isinstance(r, Sequence) and not isinstance(r, str | bytes) for r in items):
            width = max((len(r) for r in items), default=0)
            columns = [str(h) for h in headers] if headers else [str(i) for i in range(width)]
            rows = [list(r) for r in items[:MAX_ROWS]]
            return columns, rows, len(items)
    raise InvalidInputError(
        f"card.table takes a DataFrame, an Arrow table, a dict of columns or a list of rows, "
        f"not a {type(data).__name__}"
    )


def _columns_of(data: Any) -> Callable[[str], list[Any]]:
    """A function from a column name to its values, for chart data given as a table."""
    columns, rows, _ = _chart_table(data)

    def column(name: str) -> list[Any]:
        if name not in columns:
            raise InvalidInputError(f"card.chart: no column {name!r}; columns: {', '.join(columns)}")
        i = columns.index(name)
        return [r[i] if i < len(r) else None for r in rows]

    return column


def _chart_table(data: Any) -> tuple[list[str], list[list[Any]], int]:
    if isinstance(data, Mapping):
        columns = [str(c) for c in data]
        values = [list(v) for v in data.values()]
        n = max((len(v) for v in values), default=0)
        return columns, [[v[i] if i < len(v) else None for v in values] for i in range(n)], n
    if hasattr(data, "to_dict") and hasattr(data, "itertuples"):  # pandas: every row, not a preview
        return (
            [str(c) for c in data.columns],
            [list(r) for r in data.itertuples(index=False, name=None)],
            len(data),
        )
    if hasattr(data, "to_pylist") and hasattr(data, "column_names"):
        names = list(data.column_names)
        return (
            [str(c) for c in names],
            [[rec.get(c) for c in names] for rec in data.to_pylist()],
            data.num_rows,
        )
    return table_data(data)


def _thin(xs: list[Any], ys: list[list[Any]]) -> tuple[list[Any], list[list[Any]], bool]:
    if len(xs) <= MAX_POINTS:
        return xs, ys, False
    stride = math.ceil(len(xs) / MAX_POINTS)
    keep = list(range(0, len(xs), stride))
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [[y[i] for i in keep] for y in ys], True


def histogram(values: Sequence[Any], bins: int) -> tuple[list[float], list[int]]:
    """(bin edges, counts) of the finite values, ``bins`` equal-width bins."""
    finite = [v for v in (_number(x) for x in values) if v is not None]
    if not finite:
        return [], []
    low, high = min(finite), max(finite)
    if low == high:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / bins
    counts = [0] * bins
    for v in finite:
        counts[min(int((v - low) / width), bins - 1)] += 1
    return [low + i * width for i in range(bins + 1)], counts


def chart_component(  # noqa: PLR0917 (one argument check each)
    kind: str,
    data: Any = None,
    x: Any = None,
    y: Any = None,
    title: str | None = None,
    bins: int = 20,
) -> dict[str, Any]:
    """The stored form of ``card.chart(kind, data, x=, y=)`` (see :class:`Card.chart`)."""
    if kind not in CHART_KINDS:
        raise InvalidInputError(f"card.chart: unknown kind {kind!r}; use one of {', '.join(CHART_KINDS)}")
    if not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
        raise InvalidInputError(f"card.chart: bins is a whole number from 1 to {MAX_BINS}, got {bins!r}")
    if data is not None:
        column = _columns_of(data)
        if kind == "histogram":
            names = [y or x] if isinstance(y or x, str) else None
            if names is None:
                raise InvalidInputError('card.chart("histogram", data, x="column") names the column to count')
            xs: list[Any] = column(names[0])
            ys: list[list[Any]] = []
            labels: list[str] = []
        else:
            if not isinstance(x, str):
                raise InvalidInputError(
                    f'card.chart("{kind}", data, x="column", y="column") names the columns'
                )
            y_names = [y] if isinstance(y, str) else list(y or [])
            if not y_names or not all(isinstance(n, str) for n in y_names):
                raise InvalidInputError(f'card.chart("{kind}", data, x=..., y="column" or ["a", "b"])')
            xs, ys, labels = column(x), [column(n) for n in y_names], y_names
    elif kind == "histogram":
        xs, ys, labels = list(x if x is not None else y or []), [], []
    else:
        if x is None and y is not None:
            x = list(range(len(list(y))))
        if x is None or y is None:
            raise InvalidInputError(
                f'card.chart("{kind}", x=[...], y=[...]) or card.chart("{kind}", data, x=, y=)'
            )
        xs = list(x)
        y_list = list(y)
        if y_list and all(isinstance(v, Sequence) and not isinstance(v, str) for v in y_list):
            ys = [list(v) for v in y_list]
        else:
            ys = [y_list]
        labels = ["y"] if len(ys) == 1 else [f"y{i + 1}" for i in range(len(ys))]
    if len(ys) > MAX_SERIES:
        raise InvalidInputError(f"card.chart: at most {MAX_SERIES} series, got {len(ys)}")
    component: dict[str, Any] = {"type": "chart", "kind": kind, "title": _cut(str(title or ""), MAX_TITLE)}
    if kind == "histogram":
        edges, counts = histogram(xs, bins)
        component.update(
            edges=edges, counts=counts, label=str(x or y or "") if isinstance(x or y, str) else ""
        )
        return component
    numeric_x = kind != "bar"
    x_values = [(_number(v) if numeric_x else cell_value(v)) for v in xs]
    y_values = [[_number(v) for v in series] for series in ys]
    x_values, y_values, thinned = _thin(x_values, y_values)
    component.update(
        x=x_values,
        series=[
            {"name": _cut(str(n), MAX_TITLE), "values": v[: len(x_values)]}
            for n, v in zip(labels, y_values, strict=False)
        ],
        x_label=str(x) if isinstance(x, str) else "",
        thinned=thinned,
    )
    return component


def image_bytes(image: Any) -> bytes:
    """PNG bytes of a figure (anything with ``savefig``, e.g. matplotlib's) or the PNG/JPEG bytes given."""
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
    elif hasattr(image, "savefig"):
        import io

        buffer = io.BytesIO()
        image.savefig(buffer, format="png", bbox_inches="tight")
        data = buffer.getvalue()
    else:
        raise InvalidInputError(
            "card.image takes PNG or JPEG bytes or a figure with savefig (matplotlib), "
            f"not a {type(image).__name__}"
        )
    if image_mime(data) is None:
        raise InvalidInputError("card.image: the bytes are not a PNG or JPEG image")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInputError(
            f"card.image: {len(data):,} bytes is over the {MAX_IMAGE_BYTES >> 20} MiB limit of one image; "
            "save it smaller (fewer dpi)"
        )
    return data


class Card:
    """A report built from components; ``.html()`` renders it (a notebook shows it by itself).

    Inside a flow step use ``shipyard.card`` (this task's card: ``refresh()`` stores it while
    the step runs, and it is stored when the step ends); elsewhere ``Card()`` builds one to show."""

    def __init__(self, title: str = "", on_refresh: Callable[[Card], None] | None = None) -> None:
        self.title = _cut(str(title), MAX_TITLE)
        self.components: list[dict[str, Any]] = []
        self.revision = 0  # counts changes: what was stored is known by its revision
        self._size = 0
        self._on_refresh = on_refresh

    # ---- building ----------------------------------------------------------------------------
    def markdown(self, text: str) -> Card:
        """A block of Markdown (CommonMark and tables; raw HTML in it is shown as text)."""
        if not isinstance(text, str):
            raise InvalidInputError(f"card.markdown takes a str, not a {type(text).__name__}")
        cut = len(text) > MAX_TEXT
        return self._add({"type": "markdown", "text": text[:MAX_TEXT], "cut": cut})

    def table(self, data: Any, headers: Sequence[str] | None = None, title: str | None = None) -> Card:
        """A table of a DataFrame, an Arrow table, a dict of columns, records or rows; the first
        MAX_ROWS rows and MAX_COLUMNS columns are kept (the card says how many there were)."""
        columns, rows, total = table_data(data, headers)
        component = {
            "type": "table",
            "title": _cut(str(title or ""), MAX_TITLE),
            "columns": [_cut(c, MAX_CELL) for c in columns[:MAX_COLUMNS]],
            "rows": [[cell_value(v) for v in r[:MAX_COLUMNS]] for r in rows[:MAX_ROWS]],
            "total_rows": total,
            "total_columns": len(columns),
        }
        return self._add(component)

    def chart(
        self,
        kind: str,
        data: Any = None,
        *,
        x: Any = None,
        y: Any = None,
        title: str | None = None,
        bins: int = 20,
    ) -> Card:
        """A chart drawn by shipyard (SVG, no script): ``kind`` is line, bar, histogram or
        scatter. ``data`` (a DataFrame, dict of columns or records) with column names ``x`` and
        ``y`` (a name or a list: one series each), or the values themselves: ``x=[...], y=[...]``.
        A histogram counts one column (``x``) in ``bins`` bins."""
        return self._add(chart_component(kind, data, x, y, title, bins))

    def vega(self, spec: Mapping[str, Any], title: str | None = None) -> Card:
        """A Vega-Lite chart given as its JSON spec with inline ``data.values``. shipyard draws the
        common single-view specs itself (marks line, bar, point, area; x/y fields; x binning; a
        colour field as series); others are shown as their JSON."""
        if not isinstance(spec, Mapping):
            raise InvalidInputError(f"card.vega takes a Vega-Lite spec (a dict), not a {type(spec).__name__}")
        try:
            encoded = json.dumps(spec, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"card.vega: the spec is not JSON: {exc}") from None
        if len(encoded) > MAX_VEGA_BYTES:
            raise InvalidInputError(
                f"card.vega: the spec is {len(encoded):,} bytes, over {MAX_VEGA_BYTES >> 20} MiB"
            )
        return self._add(
            {"type": "vega", "title": _cut(str(title or ""), MAX_TITLE), "spec": json.loads(encoded)}
        )

    def image(self, image: Any, title: str | None = None) -> Card:
        """An image: a figure with ``savefig`` (matplotlib) or PNG/JPEG bytes."""
        data = image_bytes(image)
        return self._add(
            {
                "type": "image",
                "title": _cut(str(title or ""), MAX_TITLE),
                "mime": image_mime(data),
                "data": base64.b64encode(data).decode("ascii"),
            }
        )

    def clear(self) -> Card:
        """Remove every component (a live card often redraws itself from scratch)."""
        self.components = []
        self._size = 0
        self.revision += 1
        return self

    def refresh(self) -> None:
        """Store the card now so the UI shows it while the step runs (inside a task; elsewhere
        nothing is stored). Frequent calls are coalesced to about one write a second."""
        if self._on_refresh is not None:
            self._on_refresh(self)

    # ---- reading -----------------------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "title": self.title, "components": list(self.components)}

    def to_json(self) -> bytes:
        return json.dumps(
            self.to_document(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()

    def html(self, standalone: bool = True) -> str:
        """The card as HTML: a whole document (``standalone``) or a fragment for a notebook."""
        from shipyard.cards.render import render_document, render_fragment

        doc = self.to_document()
        return render_document(doc) if standalone else render_fragment(doc)

    def _repr_html_(self) -> str:
        return self.html(standalone=False)

    def __len__(self) -> int:
        return len(self.components)

    def __repr__(self) -> str:
        return f"<Card {self.title!r}: {len(self.components)} components>"

    def _add(self, component: dict[str, Any]) -> Card:
        if len(self.components) >= MAX_COMPONENTS:
            raise InvalidInputError(
                f"a card holds at most {MAX_COMPONENTS} components; card.clear() and redraw it, or use fewer"
            )
        size = len(json.dumps(component, ensure_ascii=False, allow_nan=False))
        if self._size + size > MAX_DOCUMENT_BYTES:
            raise InvalidInputError(
                f"the card would be over {MAX_DOCUMENT_BYTES >> 20} MiB; use fewer or smaller components"
            )
        self.components.append(component)
        self._size += size
        self.revision += 1
        return self
