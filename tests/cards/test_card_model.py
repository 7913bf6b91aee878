"""Building cards: components, their bounds, and rendering that never lets stored text be markup."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

import html5lib
import pandas as pd
import pytest

from shipyard.cards import model
from shipyard.cards.current import task_card
from shipyard.cards.model import Card
from shipyard.cards.render import render_component, render_document, render_fragment
from shipyard.core.errors import InvalidInputError

XSS = "<script>alert('x')</script>"
ONERROR = '<img src=x onerror="alert(1)">'


def png(width: int = 4, height: int = 3) -> bytes:
    raw = b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def parse_strict(page: str) -> Any:
    """Parse with html5lib in strict mode: any parse error raises."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page)


def elements(tree: Any, tag: str) -> list[Any]:
    """Elements named ``tag`` in any namespace (inline SVG is in SVG's)."""
    return [e for e in tree.iter() if isinstance(e.tag, str) and e.tag.rsplit("}", 1)[-1] == tag]


def test_every_component_kind_renders_as_valid_html_without_script() -> None:
    card = Card(title="Report " + XSS)
    card.markdown("# Title\n\nsome *text* " + XSS + " " + ONERROR + "\n\n[link](javascript:alert(1))")
    card.table(pd.DataFrame({"name": [XSS, "b"], "value": [1.5, float("nan")]}))
    card.table([[1, 2], [3, 4]], headers=["a", ONERROR])
    card.chart(
        "line", {"epoch": [1, 2, 3], "loss": [3, 2, 1], "acc": [0.1, 0.2, 0.3]}, x="epoch", y=["loss", "acc"]
    )
    card.chart("bar", {"k": ["a", XSS], "v": [1, 2]}, x="k", y="v", title=XSS)
    card.chart("scatter", x=[1, 2, 3], y=[3, 1, 2])
    card.chart("histogram", x=[1, 2, 2, 3, 3, 3], bins=3)
    card.vega(
        {
            "mark": "bar",
            "data": {"values": [{"a": "x", "b": 2}]},
            "encoding": {"x": {"field": "a"}, "y": {"field": "b"}},
        }
    )
    card.vega({"layer": [], "title": XSS})  # not drawn: shown as JSON text
    card.image(png())
    page = card.html()
    tree = parse_strict(page)
    assert elements(tree, "script") == []
    assert [i.get("src", "")[:22] for i in elements(tree, "img")] == ["data:image/png;base64,"]
    assert all(not any(k.startswith("on") for k in e.attrib) for e in tree.iter())  # no handler attribute
    assert all("javascript:" not in e.get("href", "") for e in elements(tree, "a"))
    assert len(elements(tree, "svg")) >= 5  # 4 charts + the drawn Vega-Lite spec
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # shown as text
    assert "http://" not in page and "https://" not in page  # standalone: nothing fetched
    parse_strict(f"<!DOCTYPE html><title>t</title>{render_fragment(card.to_document())}")


def test_a_notebook_shows_a_card_through_its_repr() -> None:
    card = Card().markdown("hello")
    assert "hello" in card._repr_html_() and "<html" not in card._repr_html_()


def test_tables_and_charts_are_cut_to_their_bounds_and_say_so() -> None:
    rows = [{"i": i, "text": "x" * (model.MAX_CELL + 50)} for i in range(model.MAX_ROWS + 10)]
    card = Card().table(rows)
    table = card.components[0]
    assert len(table["rows"]) == model.MAX_ROWS and table["total_rows"] == model.MAX_ROWS + 10
    assert len(table["rows"][0][1]) == model.MAX_CELL
    assert f"the first {model.MAX_ROWS:,} of {model.MAX_ROWS + 10:,} rows" in render_component(table)
    wide = Card().table({f"c{i}": [i] for i in range(model.MAX_COLUMNS + 5)}).components[0]
    assert len(wide["columns"]) == model.MAX_COLUMNS and wide["total_columns"] == model.MAX_COLUMNS + 5
    n = model.MAX_POINTS * 3
    chart = Card().chart("line", x=list(range(n)), y=[float(i) for i in range(n)]).components[0]
    assert len(chart["x"]) <= model.MAX_POINTS + 1 and chart["thinned"] and chart["x"][-1] == n - 1
    text = Card().markdown("a" * (model.MAX_TEXT + 10)).components[0]
    assert len(text["text"]) == model.MAX_TEXT and text["cut"]


def test_what_a_card_refuses_is_one_line_naming_the_fix() -> None:
    card = Card()
    with pytest.raises(InvalidInputError, match="not a PNG or JPEG"):
        card.image(b"<svg onload=alert(1)>")
    with pytest.raises(InvalidInputError, match="over the 5 MiB limit"):
        card.image(b"\x89PNG\r\n\x1a\n" + b"\0" * model.MAX_IMAGE_BYTES)
    with pytest.raises(InvalidInputError, match="unknown kind 'pie'"):
        card.chart("pie", x=[1], y=[1])
    with pytest.raises(InvalidInputError, match="no column 'z'"):
        card.chart("line", {"x": [1], "y": [2]}, x="x", y="z")
    with pytest.raises(InvalidInputError, match="takes a str"):
        card.markdown(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="list of rows"):
        card.table(42)
    for _ in range(model.MAX_COMPONENTS):
        card.markdown("x")
    with pytest.raises(InvalidInputError, match=f"at most {model.MAX_COMPONENTS} components"):
        card.markdown("one too many")
    assert len(card.clear()) == 0


def test_a_figure_is_accepted_by_its_savefig() -> None:
    class Figure:
        def savefig(self, buffer: Any, format: str, bbox_inches: str) -> None:
            assert format == "png"
            buffer.write(png())

    card = Card().image(Figure())
    assert base64.b64decode(card.components[0]["data"]) == png()


def test_a_stored_document_is_rendered_defensively() -> None:
    evil = {
        "title": XSS,
        "components": [
            {"type": "markdown", "text": 5},
            {"type": "nope"},
            "not a dict",
            {"type": "image", "data": base64.b64encode(b"<svg onload=alert(1)>").decode()},
            {"type": "image", "data": "!!!"},
            {"type": "table", "columns": [XSS], "rows": [[{"nested": XSS}]]},
            {"type": "chart", "kind": "line", "x": "nope", "series": []},
        ],
    }
    page = render_document(evil)
    tree = parse_strict(page)
    assert elements(tree, "script") == [] and elements(tree, "img") == []
    assert "[malformed markdown component]" in page and "[unknown component nope]" in page
    assert "[not a PNG or JPEG image]" in page and "[image data is not base64]" in page
    assert "not a card document" in render_document([1, 2])


def test_a_task_card_is_stored_when_refreshed_coalesced_and_at_the_end_redacted() -> None:
    stored: list[dict[str, Any]] = []
    with task_card(
        lambda data: stored.append(json.loads(data)), secrets=["s3cr3t"], min_interval_s=60
    ) as holder:
        import shipyard

        assert shipyard.card.__getattr__("components") is holder.card.components
        shipyard.card.markdown("first, with s3cr3t")
        shipyard.card.refresh()  # stored: the first write
        shipyard.card.markdown("second")
        shipyard.card.refresh()  # coalesced: within min_interval_s of the first
        assert len(stored) == 1
    assert len(stored) == 2  # what changed since is stored when the step ends
    assert stored[0]["components"][0]["text"] == "first, with ***"
    assert [c["text"] for c in stored[1]["components"]] == ["first, with ***", "second"]
    with task_card(stored.append):
        pass
    assert len(stored) == 2  # an untouched card stores nothing
