"""Artifact previews: the first rows of a table, an image served by a safe endpoint, or text.

The kind of an artifact is decided from its serializer and, for raw bytes and files, from the
bytes themselves (PNG/JPEG magic numbers; text that decodes as UTF-8) — never from its name alone,
so a file called ``x.png`` holding HTML is shown as text, not handed to the browser as an image.
Nothing here executes stored code: pickle-based artifacts are never loaded.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from shipyard.artifacts.store import ArtifactStore
from shipyard.core.entities import ArtifactRecord

PREVIEW_ROWS = 50
MAX_PREVIEW_BYTES = 64 << 20  # tables and images bigger than this are only offered for download
TEXT_PREVIEW_BYTES = 256 << 10
SNIFF_BYTES = 8 << 10
CHUNK = 1 << 20

PreviewKind = Literal["table", "image", "text", "none"]

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


@dataclass(frozen=True)
class Preview:
    kind: PreviewKind
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int | None = None
    text: str = ""
    truncated: bool = False
    note: str = ""  # why there is no preview, or what was left out


def image_type(head: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` when the bytes start like one, else None."""
    for magic, mime in _IMAGE_MAGIC:
        if head.startswith(magic):
            return mime
    return None


def _head(store: ArtifactStore, record: ArtifactRecord, n: int) -> bytes:
    if record.size <= MAX_PREVIEW_BYTES:
        return store.get_bytes(record.digest, name=record.name)[:n]
    return b""  # too big to verify for a peek; offered for download only


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _table(store: ArtifactStore, record: ArtifactRecord) -> Preview:
    import pyarrow as pa

    from shipyard.server.ui.parquet_preview import read_preview

    data = store.get_bytes(record.digest, name=record.name)
    try:
        found = read_preview(data, PREVIEW_ROWS, _cell)
    except (pa.ArrowException, OSError, ValueError) as exc:
        return Preview("none", note=f"cannot read this parquet file: {exc}")
    truncated = found.total_rows > len(found.rows) or bool(found.notes)
    return Preview(
        "table",
        columns=found.columns,
        rows=found.rows,
        total_rows=found.total_rows,
        truncated=truncated,
        note="; ".join(found.notes),
    )


def _text(data: bytes, *, pretty_json: bool = False) -> Preview | None:
    cut = data[:TEXT_PREVIEW_BYTES]
    try:
        text = cut.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(data) > TEXT_PREVIEW_BYTES and exc.start >= len(cut) - 4:
            text = cut[: exc.start].decode("utf-8")  # a character cut in half at the limit
        else:
            return None
    if "\x00" in text:
        return None
    if pretty_json and len(data) <= TEXT_PREVIEW_BYTES:  # bounded before it is parsed
        with contextlib.suppress(ValueError, RecursionError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return Preview("text", text=text, truncated=len(data) > TEXT_PREVIEW_BYTES)


def build_preview(store: ArtifactStore, record: ArtifactRecord) -> Preview:
    """What the artifact page shows for ``record`` (reads at most one blob, never unpickles)."""
    if record.serializer == "parquet":
        if record.size > MAX_PREVIEW_BYTES:
            return Preview("none", note="too large to preview; download it")
        return _table(store, record)
    if record.serializer in ("file", "bytes", "json"):
        head = _head(store, record, TEXT_PREVIEW_BYTES + SNIFF_BYTES)
        if not head:
            return Preview("none", note="too large to preview; download it")
        if record.serializer != "json" and image_type(head) is not None:
            return Preview("image")
        text = _text(head, pretty_json=record.serializer == "json" or record.name.endswith(".json"))
        if text is not None:
            if len(head) < record.size:
                return Preview("text", text=text.text, truncated=True)
            return text
        return Preview("none", note="binary content; download it")
    if record.serializer == "numpy":
        shape = record.meta.get("shape")
        dtype = record.meta.get("dtype")
        return Preview("none", note=f"numpy array, dtype {dtype}, shape {shape}; download it")
    if record.unsafe:
        return Preview("none", note="pickle-based artifact: not loaded by the UI; download it")
    return Preview("none", note=f"no preview for {record.serializer!r} artifacts; download it")


def image_bytes(store: ArtifactStore, record: ArtifactRecord) -> tuple[bytes, str] | None:
    """The verified bytes and media type of a PNG/JPEG artifact; None for anything else."""
    if record.serializer not in ("file", "bytes") or record.size > MAX_PREVIEW_BYTES:
        return None
    data = store.get_bytes(record.digest, name=record.name)
    mime = image_type(data[:16])
    return (data, mime) if mime is not None else None


def download_name(record: ArtifactRecord) -> str:
    """A safe file name for Content-Disposition (folders download as their stored tar)."""
    base = record.name.rsplit("/", 1)[-1] or "artifact"
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base)[:120].lstrip(".") or "artifact"
    suffix = {"parquet": ".parquet", "dir": ".tar", "numpy": ".npy", "json": ".json"}.get(record.serializer)
    if suffix and not safe.endswith(suffix):
        safe += suffix
    return safe
