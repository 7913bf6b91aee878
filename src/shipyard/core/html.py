"""Small, escaping HTML builders for rich notebook displays (``_repr_html_``) and cards.

Every value passed in is text to show: it is escaped (``html.escape`` with quotes) before it is
placed, never interpreted as markup. Only the fixed tags and attributes written here reach the
output, so a name or tag holding ``<script>`` displays as those characters. Pure functions, no I/O.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

MAX_CELL = 300  # characters of one value shown in a repr table
MAX_ROWS = 50  # rows of one repr table

#: the styles of a repr (scoped to ``.shipyard-repr`` so a notebook's other outputs keep theirs)
REPR_CSS = (
    ".shipyard-repr{font:13px/1.4 system-ui,sans-serif;color:#1d2433}"
    ".shipyard-repr table{border-collapse:collapse;margin:.3rem 0}"
    ".shipyard-repr th,.shipyard-repr td{padding:.15rem .6rem;border-bottom:1px solid #e3e6ec;"
    "text-align:left;vertical-align:top}"
    ".shipyard-repr th{font-weight:600}.shipyard-repr .muted{color:#667085}"
    ".shipyard-repr .st-failed{color:#b42318}.shipyard-repr .st-succeeded{color:#067647}"
    ".shipyard-repr .st-running{color:#b54708}"
)


def esc(value: Any) -> str:
    """``value`` as escaped text (None as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def text(value: Any, limit: int = MAX_CELL) -> str:
    """A value shown in a cell: numbers compact, times in UTC, long text cut; escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        shown = str(value)
    elif isinstance(value, float):
        shown = f"{value:.6g}" if math.isfinite(value) else str(value)
    elif isinstance(value, int):
        shown = f"{value:,}"
    elif isinstance(value, datetime):
        shown = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    else:
        shown = str(value)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return esc(shown)


def status(value: Any) -> str:
    """A run/task status word, coloured by a class named after it."""
    word = str(getattr(value, "value", value))
    cls = "".join(c for c in word if c.isalnum())
    return f'<span class="st-{cls}">{esc(word)}</span>'


def kv_table(rows: Iterable[tuple[str, Any]], raw: Sequence[str] = ()) -> str:
    """A two-column table of (label, value); labels in ``raw`` carry already-built HTML."""
    body = []
    for label, value in rows:
        cell = value if label in raw else text(value)
        body.append(f"<tr><th>{esc(label)}</th><td>{cell}</td></tr>")
    return f"<table>{''.join(body)}</table>"


def grid(columns: Sequence[str], rows: Sequence[Sequence[Any]], raw_columns: Sequence[int] = ()) -> str:
    """A table with a header row; at most MAX_ROWS rows (the rest counted below it). Cells of the
    column indexes in ``raw_columns`` carry already-built HTML."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows[:MAX_ROWS]:
        cells = "".join(f"<td>{cell if i in raw_columns else text(cell)}</td>" for i, cell in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    more = f'<p class="muted">{len(rows) - MAX_ROWS:,} more rows</p>' if len(rows) > MAX_ROWS else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def mapping_rows(values: Mapping[str, Any], limit: int = MAX_ROWS) -> list[tuple[str, Any]]:
    """``values`` sorted by key, at most ``limit`` of them."""
    return sorted(values.items())[:limit]


def section(title: str, body: str) -> str:
    return f"<h4>{esc(title)}</h4>{body}" if body else ""


def repr_block(title: str, body: str) -> str:
    """A complete repr: its scoped style, a heading and the body (already built)."""
    return f'<div class="shipyard-repr"><style>{REPR_CSS}</style><h3>{esc(title)}</h3>{body}</div>'
