"""A card document as HTML: a standalone page (the UI's card frame, ``shipyard card get``) or a
fragment (a notebook's display).

The document is untrusted data (it came from a step, through the store): it is walked
defensively (unknown or malformed components become a note) and nothing in it is ever markup.
Text is escaped; Markdown is rendered by markdown-it-py with raw HTML off (HTML in it shows as
text), images in Markdown off (no fetch leaves the page), and link targets checked by its
``validateLink`` (no ``javascript:``); tables are cells of escaped text; charts are SVG drawn
here (:mod:`shipyard.cards.svg`); images are ``data:`` URIs of bytes that start like PNG/JPEG,
re-encoded here. The page loads nothing: inline CSS (allowed by its hash, :func:`style_hash`),
no script, so it needs no network and runs no code under the strictest policy.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from shipyard.cards import svg
from shipyard.cards.model import MAX_COMPONENTS, MAX_VEGA_BYTES, image_mime
from shipyard.core.html import esc, text

_CSS = """
body{font:14px/1.5 system-ui,-apple-system,sans-serif;color:#1d2433;margin:0;padding:12px 16px}
.shipyard-card h1{font-size:1.3rem;margin:.2rem 0 .8rem}.shipyard-card h2{font-size:1.1rem}
.shipyard-card .component{margin:0 0 1.2rem}
.shipyard-card table{border-collapse:collapse;font-size:13px;max-width:100%}
.shipyard-card th,.shipyard-card td{padding:.2rem .6rem;border-bottom:1px solid #e3e6ec;text-align:left}
.shipyard-card th{font-weight:600;background:#f8f9fb}
.shipyard-card .muted{color:#667085;font-size:12px}
.shipyard-card .title{font-weight:600;margin:.2rem 0}
.shipyard-card pre{background:#f8f9fb;padding:.5rem;overflow:auto;font-size:12px}
.shipyard-card img{max-width:100%;height:auto}
.shipyard-card svg.chart{max-width:100%;height:auto;background:#fff}
.shipyard-card .legend{font-size:12px;color:#475467}.shipyard-card .legend-item{margin-right:1rem}
.shipyard-card .table-wrap{overflow:auto;max-height:480px}
"""


@functools.cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").enable("strikethrough")
    md.disable("image")  # an image in Markdown would be fetched from anywhere: cards take bytes
    return md


def style_hash() -> str:
    """The CSP source that allows exactly the card's own ``<style>`` (``'sha256-...'``)."""
    digest = hashlib.sha256(_CSS.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def card_csp() -> str:
    """The Content-Security-Policy a card page is served with: no script, nothing fetched, its one
    stylesheet, images only as data:, sandboxed (an opaque origin), framed only by the UI."""
    return (
        f"default-src 'none'; style-src {style_hash()}; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'self'; sandbox"
    )


def render_document(doc: Any, heading: str = "") -> str:
    """A whole HTML page of the card (inline CSS, no script, no external reference)."""
    title = doc.get("title") if isinstance(doc, Mapping) and isinstance(doc.get("title"), str) else ""
    page_title = esc(title or heading or "card")
    policy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">'
        f"<title>{page_title}</title><style>{_CSS}</style></head>"
        f"<body>{_body(doc, heading)}</body></html>\n"
    )


def render_fragment(doc: Any, heading: str = "") -> str:
    """The card inside a ``<div>`` with its (scoped) styles, for a notebook's output."""
    css = _CSS.replace("body{", ".shipyard-card{")
    return f"<div><style>{css}</style>{_body(doc, heading)}</div>"


def _body(doc: Any, heading: str) -> str:
    parts = ['<div class="shipyard-card">']
    if not isinstance(doc, Mapping):
        parts.append('<p class="muted">not a card document</p></div>')
        return "".join(parts)
    title = doc.get("title") if isinstance(doc.get("title"), str) else ""
    if title or heading:
        parts.append(f"<h1>{esc(title or heading)}</h1>")
    components = doc.get("components")
    if not isinstance(components, list) or not components:
        parts.append('<p class="muted">This card is empty.</p>')
        components = []
    for component in components[:MAX_COMPONENTS]:
        parts.append(f'<div class="component">{render_component(component)}</div>')
    if isinstance(components, list) and len(components) > MAX_COMPONENTS:
        parts.append(f'<p class="muted">{len(components) - MAX_COMPONENTS:,} more components not shown</p>')
    parts.append("</div>")
    return "".join(parts)


def render_component(component: Any) -> str:
    """One component as HTML (a note for what is not a known, well-formed component)."""
    if not isinstance(component, Mapping):
        return '<p class="muted">[not a card component]</p>'
    kind = component.get("type")
    renderer = _RENDERERS.get(kind) if isinstance(kind, str) else None
    if renderer is None:
        return f'<p class="muted">[unknown component {esc(str(kind)[:40])}]</p>'
    try:
        return renderer(component)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError):
        return f'<p class="muted">[malformed {esc(kind)} component]</p>'


def _title(component: Mapping[str, Any]) -> str:
    title = component.get("title")
    return f'<p class="title">{esc(title)}</p>' if isinstance(title, str) and title else ""


def _markdown_html(component: Mapping[str, Any]) -> str:
    source = component.get("text")
    if not isinstance(source, str):
        raise TypeError("markdown text")
    rendered = str(_markdown().render(source))
    if component.get("cut"):
        rendered += '<p class="muted">[the rest of this text was cut: a card keeps 100,000 characters]</p>'
    return rendered


def _table_html(component: Mapping[str, Any]) -> str:
    columns = [c for c in component.get("columns", []) if isinstance(c, str | int | float)]
    rows = component.get("rows", [])
    if not isinstance(rows, list):
        raise TypeError("rows")
    head = "".join(f"<th>{text(c, 200)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = row if isinstance(row, list) else []
        body.append(
            "<tr>"
            + "".join(f"<td>{text(_cell(v), 1000)}</td>" for v in cells[: len(columns) or None])
            + "</tr>"
        )
    notes = []
    total_rows, total_columns = component.get("total_rows"), component.get("total_columns")
    if isinstance(total_rows, int) and total_rows > len(rows):
        notes.append(f"the first {len(rows):,} of {total_rows:,} rows")
    if isinstance(total_columns, int) and total_columns > len(columns):
        notes.append(f"the first {len(columns):,} of {total_columns:,} columns")
    note = f'<p class="muted">Showing {" and ".join(notes)}.</p>' if notes else ""
    if not rows:
        return f'{_title(component)}<p class="muted">none</p>'
    thead = f"<thead><tr>{head}</tr></thead>" if any(str(c) for c in columns) else ""
    return (
        f'{_title(component)}<div class="table-wrap"><table>{thead}'
        f"<tbody>{''.join(body)}</tbody></table></div>{note}"
    )


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else json.dumps(value)[:1000]


def _chart_html(component: Mapping[str, Any]) -> str:
    kind = component.get("kind")
    title = component.get("title") if isinstance(component.get("title"), str) else ""
    label = title or f"{kind} chart"
    if kind == "histogram":
        chart = svg.histogram_chart(component.get("edges", []), component.get("counts", []), label=label)
    else:
        series = [
            (str(s.get("name", "")), list(s.get("values", [])))
            for s in component.get("series", [])
            if isinstance(s, Mapping) and isinstance(s.get("values"), list)
        ]
        xs = component.get("x", [])
        if not isinstance(xs, list):
            raise TypeError("x")
        if kind == "bar":
            chart = svg.bar_chart(xs, series, label=label)
        elif kind in ("line", "scatter"):
            chart = svg.xy_chart(xs, series, scatter=kind == "scatter", label=label)
        else:
            return f'<p class="muted">[unknown chart kind {esc(str(kind)[:40])}]</p>'
    note = '<p class="muted">thinned to fewer points</p>' if component.get("thinned") else ""
    x_label = component.get("x_label") or component.get("label")
    axis = f'<p class="muted">x: {esc(x_label)}</p>' if isinstance(x_label, str) and x_label else ""
    return f"{_title(component)}{chart}{axis}{note}"


def _vega_html(component: Mapping[str, Any]) -> str:
    from shipyard.cards.vega import as_chart

    spec = component.get("spec")
    if not isinstance(spec, Mapping):
        raise TypeError("spec")
    chart = as_chart(spec)
    if chart is not None:
        if not chart.get("title") and isinstance(component.get("title"), str):
            chart["title"] = component["title"]
        return _chart_html(chart)
    source = json.dumps(spec, indent=2, ensure_ascii=False)[:MAX_VEGA_BYTES]
    return (
        f'{_title(component)}<p class="muted">A Vega-Lite spec this card does not draw (one view with '
        "inline data.values and a line, bar, point or area mark is drawn); its JSON:</p>"
        f"<pre>{esc(source)}</pre>"
    )


def _image_html(component: Mapping[str, Any]) -> str:
    encoded = component.get("data")
    if not isinstance(encoded, str):
        raise TypeError("data")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return '<p class="muted">[image data is not base64]</p>'
    mime = image_mime(data)
    if mime is None:
        return '<p class="muted">[not a PNG or JPEG image]</p>'
    alt = component.get("title") if isinstance(component.get("title"), str) else "image"
    clean = base64.b64encode(data).decode("ascii")
    return f'{_title(component)}<img alt="{esc(alt or "image")}" src="data:{mime};base64,{clean}">'


def _text_html(component: Mapping[str, Any]) -> str:
    source = component.get("text")
    if not isinstance(source, str):
        raise TypeError("text")
    return f"{_title(component)}<pre>{esc(source[:100_000])}</pre>"


_RENDERERS = {
    "text": _text_html,
    "markdown": _markdown_html,
    "table": _table_html,
    "chart": _chart_html,
    "vega": _vega_html,
    "image": _image_html,
}
