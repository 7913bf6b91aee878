"""A notebook step's task page: the executed notebook as escaped text and validated images only."""

from __future__ import annotations

import base64
import json
import re

from markupsafe import escape

from shipyard.server.ui.notebook_view import MAX_CELLS, parse_notebook
from tests.ui.conftest import UiApp
from tests.ui.live import LiveServer
from tests.ui.seed import XSS, make_png, notebook_bytes, notebook_task


def test_the_task_page_shows_the_notebook_as_text_and_only_real_images(
    live: LiveServer, ui_app: UiApp
) -> None:
    run_id, task_id = notebook_task(ui_app.seeded.stores)
    reply = live.get(f"/ui/runs/{run_id}/tasks/{task_id}/logs", ui_app.token)
    assert reply.status == 200
    page = reply.text
    section = page[page.index('id="notebook"') :]
    assert "hello from the notebook" in section
    assert XSS not in page and str(escape(XSS)) in section  # printed and HTML outputs: text
    assert "&lt;b&gt;not bold&lt;/b&gt;" in section  # markdown shown as its source
    assert "&lt;IPython.core.display.HTML object&gt;" in section  # the text/plain twin of HTML output
    assert "[application/javascript output not shown]" in section and "alert('js')" not in section
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', section)
    assert [base64.b64decode(i) for i in images] == [make_png()]  # the fake PNG is not an image
    assert "not a png" in section  # ... its text twin is shown instead
    assert "ZeroDivisionError: division by zero" in section and "\x1b[" not in section
    assert "/download" in section


def test_parse_notebook_bounds_and_refuses_what_is_not_a_notebook() -> None:
    assert parse_notebook(b"{not json")[1].startswith("not a readable notebook")
    assert parse_notebook(b'{"cells": 3}')[1].startswith("not a notebook")
    many = {"cells": [{"cell_type": "code", "source": str(i), "outputs": []} for i in range(MAX_CELLS + 3)]}
    cells, note = parse_notebook(json.dumps(many).encode())
    assert len(cells) == MAX_CELLS and f"of {MAX_CELLS + 3} cells" in note
    cells, _ = parse_notebook(notebook_bytes(make_png()))
    kinds = [[o.kind for o in c.outputs] for c in cells]
    assert kinds == [[], ["stdout"], ["result", "note"], ["image"], ["result"], ["error"]]
    bad = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {
        "image/jpeg": base64.b64encode(make_png()).decode()}}]}]}  # fmt: skip
    (cell,), _ = parse_notebook(json.dumps(bad).encode())
    assert [o.kind for o in cell.outputs] == ["note"]  # PNG bytes declared as JPEG: not shown
