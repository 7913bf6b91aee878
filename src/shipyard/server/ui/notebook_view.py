"""The executed notebook of a notebook step, as the task page shows it.

Safe by construction: the notebook is parsed as plain JSON (bounded in size, cells and text), and
everything becomes text for the autoescaping template — cell sources, stream and ``text/plain``
outputs, tracebacks (ANSI colours stripped). HTML, JavaScript, SVG and every other rich output is
never rendered (at most its ``text/plain`` twin is shown). Images are shown only as ``data:`` URIs
of base64 that decodes to bytes starting like a PNG or JPEG of the declared type, re-encoded here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from shipyard.artifacts.store import ArtifactStore
from shipyard.core.entities import ArtifactRecord
from shipyard.server.ui.preview import image_type

MAX_NOTEBOOK_BYTES = 16 << 20  # larger: offered for download only
MAX_CELLS = 500
MAX_TEXT = 64 << 10  # characters of one source or output
MAX_IMAGE_BYTES = 4 << 20
_IMAGES = ("image/png", "image/jpeg")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")

OutputKind = Literal["stdout", "stderr", "result", "error", "image", "note"]


@dataclass(frozen=True)
class CellOutput:
    kind: OutputKind
    text: str = ""
    mime: str = ""  # images only
    data: str = ""  # images only: canonical base64 of validated PNG/JPEG bytes


@dataclass(frozen=True)
class NotebookCell:
    kind: str  # code, markdown, raw
    source: str
    count: int | None = None
    outputs: list[CellOutput] = field(default_factory=list)


@dataclass(frozen=True)
class NotebookView:
    record: ArtifactRecord
    cells: list[NotebookCell] = field(default_factory=list)
    note: str = ""


def load_notebook_view(store: ArtifactStore, record: ArtifactRecord) -> NotebookView:
    if record.size > MAX_NOTEBOOK_BYTES:
        return NotebookView(record, note=f"too large to show here ({record.size:,} bytes); download it")
    data = store.get_bytes(record.digest, name=record.name)
    cells, note = parse_notebook(data)
    return NotebookView(record, cells, note)


def parse_notebook(data: bytes) -> tuple[list[NotebookCell], str]:
    """The cells to show and a note on what was left out (or why nothing could be shown)."""
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError):
        return [], "not a readable notebook (invalid JSON); download it"
    raw_cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(raw_cells, list):
        return [], "not a notebook (no cells); download it"
    cells = [_cell(c) for c in raw_cells[:MAX_CELLS] if isinstance(c, dict)]
    note = f"showing the first {MAX_CELLS} of {len(raw_cells)} cells" if len(raw_cells) > MAX_CELLS else ""
    return cells, note


def _text(value: Any) -> str:
    """nbformat's multiline string: a string or a list of strings; bounded, colours stripped."""
    if isinstance(value, list):
        text = "".join(v for v in value if isinstance(v, str))
    elif isinstance(value, str):
        text = value
    else:
        return ""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n… ({len(text) - MAX_TEXT:,} more characters)"
    return _ANSI.sub("", text)


def _cell(raw: dict[str, Any]) -> NotebookCell:
    kind = raw.get("cell_type")
    kind = kind if kind in ("code", "markdown", "raw") else "raw"
    count = raw.get("execution_count")
    outputs = raw.get("outputs") if kind == "code" else None
    shown = (
        [out for o in outputs if isinstance(o, dict) for out in _output(o)]
        if isinstance(outputs, list)
        else []
    )
    return NotebookCell(
        kind=kind,
        source=_text(raw.get("source")),
        count=count if type(count) is int else None,
        outputs=shown,
    )


def _output(raw: dict[str, Any]) -> list[CellOutput]:
    kind = raw.get("output_type")
    if kind == "stream":
        return [CellOutput("stderr" if raw.get("name") == "stderr" else "stdout", _text(raw.get("text")))]
    if kind == "error":
        trace = _text(raw.get("traceback"))
        return [CellOutput("error", trace or f"{_text(raw.get('ename'))}: {_text(raw.get('evalue'))}")]
    if kind in ("execute_result", "display_data"):
        data = raw.get("data")
        if not isinstance(data, dict):
            return []
        for mime in _IMAGES:
            if mime in data:
                image = _image(mime, data[mime])
                if image is not None:
                    return [image]
        if "text/plain" in data:
            return [CellOutput("result", _text(data["text/plain"]))]
        kinds = ", ".join(sorted(str(k) for k in data)[:5])
        return [CellOutput("note", f"[{kinds} output not shown]")]
    return []


def _image(mime: str, value: Any) -> CellOutput | None:
    encoded = "".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value
    if not isinstance(encoded, str):
        return None
    encoded = "".join(encoded.split())
    if len(encoded) > MAX_IMAGE_BYTES * 4 // 3 + 4 or not _BASE64.fullmatch(encoded):
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if image_type(raw[:16]) != mime:
        return None
    return CellOutput("image", mime=mime, data=base64.b64encode(raw).decode("ascii"))
