"""What a task does with a notebook step's executed notebook: :func:`notebook_saver` stores it as
the task's artifact ``notebook`` (``redact``: the step's secrets become ``***``; cell outputs are
dropped largest first beyond MAX_NOTEBOOK_BYTES), which the UI's task page renders. Running the
notebook is :mod:`shipyard.flows.notebook_run` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shipyard.artifacts.store import StoredObject
from shipyard.flows.notebook_run import (
    ERROR_MARKER_TAG,
    OUTPUTS_HEADER,
    NotebookError,
    literal,
    run_notebook,
)
from shipyard.flows.notebooks import NotebookSpec
from shipyard.runtime.capture import redact_text
from shipyard.runtime.stores import RunStores

MAX_NOTEBOOK_BYTES = 8 << 20  # the stored executed notebook
ARTIFACT_NAME = "notebook"

__all__ = ["ARTIFACT_NAME", "NotebookError", "literal", "notebook_saver", "run_notebook", "stored_notebook"]


def notebook_saver(
    stores: RunStores, run_id: str, task_id: str, spec: NotebookSpec, redact: Sequence[str] = ()
) -> Callable[[Path], None]:
    """``save`` for :func:`run_notebook` in a task: records the executed notebook (secrets replaced,
    bounded: :func:`stored_notebook`) as the task's artifact ``notebook`` (``meta.format = "ipynb"``)."""

    def save(executed: Path) -> None:
        import nbformat

        data = stored_notebook(nbformat, executed, spec, redact)
        if data is None:
            return
        stored = StoredObject(stores.artifacts.put_bytes(data), len(data), "bytes")
        record = stored.record(run_id, ARTIFACT_NAME, task_id=task_id, meta={"format": "ipynb"})
        stores.metadata.record_artifact(record)

    return save


def stored_notebook(
    nbformat: Any, executed: Path, spec: NotebookSpec, redact: Sequence[str] = ()
) -> bytes | None:
    """The executed notebook as stored: shipyard's outputs cell and papermill's error banners
    removed, secrets replaced, outputs dropped (largest first) past MAX_NOTEBOOK_BYTES; None when
    it cannot be read or is too large even without outputs."""
    try:
        nb = nbformat.read(str(executed), as_version=4)
    except Exception:
        return None
    nb.cells = [
        c
        for c in nb.cells
        if not str(c.get("source", "")).startswith(OUTPUTS_HEADER)
        and ERROR_MARKER_TAG not in c.get("metadata", {}).get("tags", [])
    ]
    papermill_meta = nb.metadata.get("papermill")
    if isinstance(papermill_meta, dict):
        papermill_meta["input_path"] = str(spec.path)
        papermill_meta["output_path"] = None
    if redact:
        nb = _redacted(nb, list(redact))
    data = nbformat.writes(nb).encode("utf-8")
    limit = f"{MAX_NOTEBOOK_BYTES >> 20} MiB"
    while len(data) > MAX_NOTEBOOK_BYTES:
        sizes = [(len(repr(c.get("outputs", []))), i) for i, c in enumerate(nb.cells) if c.get("outputs")]
        if not sizes:
            return None
        size, index = max(sizes)
        note = f"[shipyard: {size:,} bytes of output removed; a stored notebook is kept under {limit}]"
        nb.cells[index]["outputs"] = [nbformat.v4.new_output("stream", name="stderr", text=note)]
        data = nbformat.writes(nb).encode("utf-8")
    return bytes(data)


def _redacted(node: Any, secrets: list[str]) -> Any:
    if isinstance(node, str):
        return redact_text(node, secrets)
    if isinstance(node, list):
        return [_redacted(v, secrets) for v in node]
    if isinstance(node, dict):
        for key in list(node):
            node[key] = _redacted(node[key], secrets)
        return node
    return node
