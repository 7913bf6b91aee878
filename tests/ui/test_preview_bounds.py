"""Previews are bounded before they allocate: a few-kB Parquet file whose values expand to
hundreds of MB (a list of millions of RLE-encoded zeros in one row, a dictionary holding one big
string that every row points at, a page whose header declares a huge size), a wide file, a deeply
nested JSON document and a corrupted reference profile all preview (or refuse) within a small,
fixed amount of memory, counted in Arrow's allocator and in Python's."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.core.entities import ArtifactRecord
from shipyard.core.errors import InvalidInputError
from shipyard.server.ui.preview import Preview, build_preview
from shipyard.tracking.stores import Stores
from tests.ui.seed import open_test_stores

LIMIT = 64 << 20  # the most a preview may allocate, Arrow and Python together


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    opened = open_test_stores(tmp_path)
    yield opened
    opened.close()


def _parquet(table: pa.Table, **options: Any) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd", **options)
    return out.getvalue()


def _record(stores: Stores, data: bytes, serializer: str = "parquet", name: str = "t") -> ArtifactRecord:
    digest = stores.artifacts.put_bytes(data)
    return ArtifactRecord("a", "r", name, digest, len(data), serializer, datetime.now(UTC))


def _peak(build: Callable[[], Preview]) -> tuple[Preview, int]:
    """The preview and the most bytes it held at once (Arrow's pool peak + Python's peak)."""
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        preview = build()
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(previous)
    return preview, pool.max_memory() + python_peak


def _list_bomb() -> bytes:
    n = 5_000_000  # one row holding 5M zeros: ~600 bytes on disk, 40 MB of Arrow, 180 MB of Python
    values = pa.array(np.zeros(n, np.int64))
    column = pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), values)
    return _parquet(pa.table({"id": [1], "l": column}))


def _dictionary_bomb() -> bytes:
    big = "a" * (4 << 20)  # every row points at one 4 MB string: 50 rows = 200 MB when expanded
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(1000, np.int32)), pa.array([big]))
    return _parquet(pa.table({"s": column, "n": np.arange(1000)}))


def test_bomb_files_are_small(stores: Stores) -> None:
    assert len(_list_bomb()) < 16 << 10 and len(_dictionary_bomb()) < 16 << 10


def test_a_list_bomb_previews_in_bounded_memory(stores: Stores) -> None:
    record = _record(stores, _list_bomb())
    preview, peak = _peak(lambda: build_preview(stores.artifacts, record))
    assert peak < LIMIT, f"the preview held {peak >> 20} MB"
    assert preview.kind == "table" and preview.columns == ["id", "l"] and preview.total_rows == 1
    assert preview.rows == [["1", "…"]] and "l" in preview.note  # the nested column is not decoded


def test_a_dictionary_bomb_previews_in_bounded_memory(stores: Stores) -> None:
    record = _record(stores, _dictionary_bomb())
    preview, peak = _peak(lambda: build_preview(stores.artifacts, record))
    assert peak < LIMIT, f"the preview held {peak >> 20} MB"
    assert preview.kind == "table" and preview.total_rows == 1000 and len(preview.rows) == 50
    assert preview.rows[3] == ["a" * 199 + "…", "3"]


def test_a_page_declaring_a_huge_size_is_not_decoded(stores: Stores) -> None:
    """The footer may lie: the page headers the reader would trust are checked themselves."""
    from shipyard.server.ui.parquet_preview import PAGE_BYTES

    data = bytearray(_parquet(pa.table({"x": np.arange(100, dtype=np.int64)}), use_dictionary=False))
    meta = pq.ParquetFile(pa.BufferReader(bytes(data))).metadata.row_group(0).column(0)
    header_at = meta.data_page_offset
    assert data[header_at : header_at + 2] == b"\x15\x00"  # field 1 (type): i32 0, DATA_PAGE
    assert data[header_at + 2] == 0x15  # field 2: uncompressed_page_size, a zigzag varint
    size = len(_zigzag(int.from_bytes(_varint_at(data, header_at + 3), "little")))
    patched = data[: header_at + 3] + _zigzag(PAGE_BYTES * 64) + data[header_at + 3 + size :]
    assert len(patched) != len(data) or patched != data
    record = _record(stores, bytes(patched))
    preview, peak = _peak(lambda: build_preview(stores.artifacts, record))
    assert peak < LIMIT and preview.rows == [] and "x" in preview.note


def _varint_at(data: bytearray, at: int) -> bytes:
    end = at
    while data[end] & 0x80:
        end += 1
    return bytes(data[at : end + 1])


def _zigzag(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def test_a_wide_file_shows_its_first_columns(stores: Stores) -> None:
    table = pa.table({f"c{i}": [i] for i in range(300)})
    preview = build_preview(stores.artifacts, _record(stores, _parquet(table)))
    assert (
        preview.kind == "table"
        and len(preview.columns) == 50
        and preview.rows == [[str(i) for i in range(50)]]
    )
    assert "250 more columns" in preview.note


def test_ordinary_tables_still_preview_whole(stores: Stores) -> None:
    table = pa.table(
        {
            "i": np.arange(2000),
            "f": np.linspace(0, 1, 2000),
            "s": [f"row {i}" for i in range(2000)],
            "l": [[i, i + 1] for i in range(2000)],
            "st": [{"a": i} for i in range(2000)],
        }
    )
    preview = build_preview(stores.artifacts, _record(stores, _parquet(table, row_group_size=500)))
    assert preview.kind == "table" and preview.total_rows == 2000 and preview.truncated
    assert preview.columns == ["i", "f", "s", "l", "st"] and preview.note == ""
    assert preview.rows[1] == ["1", "0.00050025", "row 1", "[1, 2]", "{'a': 1}"]


def test_page_headers_are_read_as_the_footer_sums_them() -> None:
    from shipyard.server.ui.parquet_preview import page_headers

    table = pa.table({"x": np.arange(100_000) % 7, "s": [f"v{i % 13}" for i in range(100_000)]})
    data = _parquet(table, data_page_size=4096, use_dictionary=["s"])
    group = pq.ParquetFile(pa.BufferReader(data)).metadata.row_group(0)
    for i in range(group.num_columns):
        chunk = group.column(i)
        start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
        pages = list(page_headers(data, start, start + chunk.total_compressed_size, max_pages=10_000))
        assert len(pages) > 2
        assert sum(p.header_bytes + p.compressed for p in pages) == chunk.total_compressed_size
        assert sum(p.header_bytes + p.uncompressed for p in pages) == chunk.total_uncompressed_size
        assert sum(p.values for p in pages) == chunk.num_values == 100_000


def test_deeply_nested_json_is_shown_as_text(stores: Stores) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # json.loads would raise RecursionError
    preview = build_preview(stores.artifacts, _record(stores, deep, "json", "cfg.json"))
    assert preview.kind == "text" and preview.text.startswith("[[[")


def test_a_reference_profile_is_bounded_before_it_allocates(stores: Stores) -> None:
    from shipyard.monitoring.profile import Profile

    sketch = {"kind": "numeric", "lo": 0, "hi": 1, "bins": 10**11, "index": [], "counts": [],
              "n": 0, "missing": 0, "total": 0, "total_sq": 0}  # fmt: skip
    raw = json.dumps({"format": 1, "rows": 1, "features": {"a": sketch}, "outputs": {}})
    with pytest.raises(InvalidInputError, match="bins"):
        Profile.from_json(raw)
    broken = {**sketch, "bins": 4, "index": [99], "counts": [1]}
    with pytest.raises(InvalidInputError, match="profile"):
        Profile.from_json(json.dumps({"format": 1, "rows": 1, "features": {"a": broken}, "outputs": {}}))
    with pytest.raises(InvalidInputError, match="profile"):
        Profile.from_json(b"[" * 100_000)


def test_a_stored_profile_is_refused_by_size_before_it_is_read(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from shipyard.monitoring import profile as profile_module
    from shipyard.monitoring.store import MonitoringStore

    monitoring = MonitoringStore(stores)
    monitoring.save_profile("m", 1, profile_module.build_profile(pd.DataFrame({"a": np.arange(100.0)})))
    assert monitoring.load_profile("m", 1).rows == 100
    monkeypatch.setattr(profile_module, "MAX_PROFILE_BYTES", 100)

    def never(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the profile's bytes were read")

    monkeypatch.setattr(stores.artifacts, "get_bytes", never)
    with pytest.raises(InvalidInputError, match="over the limit"):
        monitoring.load_profile("m", 1)


def test_task_logs_read_only_their_tail(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.server.ui.runs_pages import LOG_TAIL_BYTES, log_tail

    data = b"x" * (3 * LOG_TAIL_BYTES) + b"the end"
    record = _record(stores, data, "bytes", "logs/stdout")

    def never(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the whole log was read into memory")

    monkeypatch.setattr(stores.artifacts, "get_bytes", never)
    tail, size = log_tail(stores.artifacts, record, "task logs/stdout")
    assert size == len(data) and len(tail) == LOG_TAIL_BYTES and tail.endswith(b"the end")


def test_a_string_view_dictionary_bomb_previews_in_bounded_memory(stores: Stores) -> None:
    column = pa.array(["b" * (4 << 20)] * 200, pa.string_view())  # stored with one dictionary entry
    record = _record(stores, _parquet(pa.table({"v": column})))
    assert record.size < 16 << 10
    preview, peak = _peak(lambda: build_preview(stores.artifacts, record))
    assert peak < LIMIT, f"the preview held {peak >> 20} MB"
    assert len(preview.rows) == 50 and preview.rows[0] == ["b" * 199 + "…"]


def test_an_older_pyarrow_gets_a_note_naming_the_release_needed(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow < 26 has no ``schema_depth_limit``: the preview says what to install (no TypeError)."""
    data = _parquet(pa.table({"i": [1, 2]}))
    monkeypatch.setattr(pa, "__version__", "25.0.0")
    preview = build_preview(stores.artifacts, _record(stores, data))
    assert preview.kind == "none"
    assert "need pyarrow 26 or newer (installed: 25.0.0)" in preview.note, preview.note
