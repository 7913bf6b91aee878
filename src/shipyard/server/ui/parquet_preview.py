"""The first rows of a Parquet artifact, decoded only after the decode is known to be small.

A few kB of Parquet can declare gigabytes: pages compress runs of zeros to nothing, a run-length
encoded page repeats one value millions of times, one row may hold a list of millions of values,
and every row may point at one huge dictionary entry. So before anything is decoded:

- the footer's length (the file's last 8 bytes) is bounded, then parsed with Thrift limits;
- only the first :data:`MAX_COLUMNS` top-level columns of the first row group are read, at most
  ``rows`` rows (``iter_batches`` with a small batch);
- for every column read, the page headers the reader would trust are walked here (the footer may
  lie): a flat column's pages up to the rows needed must each stay under :data:`PAGE_BYTES` and
  together under :data:`COLUMN_BYTES` (and all columns under :data:`TOTAL_BYTES`); a nested
  column (list, map, struct) is read only when its whole chunk is small, with no dictionary page
  unless its values have a small fixed width, so no row can expand;
- strings and binaries are read as dictionaries and cut to :data:`CELL_CHARS` before they become
  Python values, so a dictionary entry shared by every row is never copied per row.

A column that fails a check shows ``…`` and is named in the preview's note.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

MAX_COLUMNS = 50
FOOTER_BYTES = 8 << 20
PYARROW_MAJOR = 26  # the first release with ParquetFile(schema_depth_limit=)
PAGE_BYTES = 8 << 20
COLUMN_BYTES = 16 << 20
TOTAL_BYTES = 32 << 20
NESTED_BYTES = 1 << 20
NESTED_VALUES = 10_000
NESTED_VALUE_WIDTH = 64  # dictionary-encoded nested values must be this narrow (bytes)
MAX_PAGES = 1000  # page headers walked per column chunk
CELL_CHARS = 200
SKIPPED = "…"

_DICTIONARY_PAGE = 2


@dataclass(frozen=True)
class PageHeader:
    kind: int  # 0 data, 1 index, 2 dictionary, 3 data (v2)
    uncompressed: int
    compressed: int
    values: int  # values (levels) in a data page; 0 for other pages
    header_bytes: int


@dataclass
class TablePreview:
    columns: list[str]
    rows: list[list[str]]
    total_rows: int
    notes: list[str]


class _Compact:
    """Just enough of Thrift's compact protocol to read page headers (bounded by ``end``)."""

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, min(end, len(data))

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ValueError("a page header runs past its column chunk")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        out = shift = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7
            if shift > 63:
                raise ValueError("a page header has an over-long number")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, kind: int, depth: int, *, element: bool = False) -> None:
        if kind in (1, 2):  # booleans: in the field header, or one byte as a list element
            if element:
                self.byte()
        elif kind == 3:
            self.byte()
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            self.advance(8)
        elif kind == 8:
            self.advance(self.varint())
        elif kind in (9, 10):
            head = self.byte()
            size = head >> 4 if head >> 4 != 15 else self.varint()
            for _ in range(size):
                self.skip(head & 0x0F, depth + 1, element=True)
        elif kind == 11:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip(types >> 4, depth + 1, element=True)
                    self.skip(types & 0x0F, depth + 1, element=True)
        elif kind == 12:
            self.struct(depth + 1)
        else:
            raise ValueError(f"a page header has an unknown Thrift type {kind}")

    def advance(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise ValueError("a page header runs past its column chunk")
        self.pos += n

    def struct(self, depth: int) -> dict[int, Any]:
        """Field id -> i32 value or nested struct (as a dict); other fields are skipped."""
        if depth > 8:
            raise ValueError("a page header is nested too deeply")
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            kind, delta = head & 0x0F, head >> 4
            last = last + delta if delta else self.zigzag()
            if kind == 5:
                fields[last] = self.zigzag()
            elif kind == 12:
                fields[last] = self.struct(depth + 1)
            else:
                self.skip(kind, depth)


def page_headers(data: bytes, start: int, end: int, *, max_pages: int = MAX_PAGES) -> Iterator[PageHeader]:
    """The page headers of the column chunk in ``data[start:end]``, in order."""
    pos = start
    for _ in range(max_pages):
        if pos >= min(end, len(data)):
            return
        reader = _Compact(data, pos, end)
        fields = reader.struct(0)
        kind, uncompressed, compressed = fields.get(1), fields.get(2), fields.get(3)
        if not (isinstance(kind, int) and isinstance(uncompressed, int) and isinstance(compressed, int)):
            raise ValueError("a page header lacks its type or sizes")
        if uncompressed < 0 or compressed < 0:
            raise ValueError("a page header declares a negative size")
        detail: dict[int, Any] = next((fields[f] for f in (5, 8) if isinstance(fields.get(f), dict)), {})
        values = detail.get(1, 0) if kind in (0, 3) else 0
        values = values if isinstance(values, int) and values > 0 else 0
        yield PageHeader(kind, uncompressed, compressed, values, reader.pos - pos)
        pos = reader.pos + compressed
    raise ValueError(f"a column chunk has more than {max_pages} pages")


def _leaf_count(kind: pa.DataType) -> int:
    import pyarrow as pa

    if isinstance(kind, pa.ExtensionType):
        return _leaf_count(kind.storage_type)
    if pa.types.is_struct(kind):
        return sum(_leaf_count(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _leaf_count(kind.key_type) + _leaf_count(kind.item_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _leaf_count(kind.value_type)
    return 1


def _primitive(kind: pa.DataType) -> bool:
    import pyarrow as pa

    nested = (pa.types.is_struct, pa.types.is_map, pa.types.is_list, pa.types.is_large_list)
    return not any(test(kind) for test in (*nested, pa.types.is_fixed_size_list))


def _is_text(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def _is_bytes(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind))


def _chunk_pages(data: bytes, chunk: Any) -> Iterator[PageHeader]:
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.dictionary_page_offset:
        start = min(start, chunk.dictionary_page_offset)
    return page_headers(data, start, start + chunk.total_compressed_size)


def _flat_cost(data: bytes, chunk: Any, rows: int) -> int | str:
    """Uncompressed bytes the reader decodes for the first ``rows`` rows of a flat leaf (a reason
    string when a page is too big)."""
    total = values = 0
    for page in _chunk_pages(data, chunk):
        if page.uncompressed > PAGE_BYTES:
            return f"a page of {page.uncompressed >> 20} MB"
        total += page.uncompressed
        if total > COLUMN_BYTES:
            return f"over {COLUMN_BYTES >> 20} MB of pages"
        values += page.values
        if values > rows:  # one page past the rows needed: the reader may look at it
            break
    return total


def _nested_cost(data: bytes, chunk: Any, width: int | None) -> int | str:
    total = values = 0
    for page in _chunk_pages(data, chunk):
        if page.kind == _DICTIONARY_PAGE and (width is None or width > NESTED_VALUE_WIDTH):
            return "nested, dictionary-encoded"
        total += page.uncompressed
        values += page.values
        if total > NESTED_BYTES or values > NESTED_VALUES:
            return f"nested, {max(values, chunk.num_values):,} values"
    return total


def _fixed_width(kind: pa.DataType) -> int | None:
    import pyarrow as pa

    try:
        return int(kind.bit_width + 7) // 8 if not pa.types.is_boolean(kind) else 1
    except ValueError:
        return None


def _leaf_types(kind: pa.DataType) -> list[pa.DataType]:
    import pyarrow as pa

    if isinstance(kind, pa.ExtensionType):
        return _leaf_types(kind.storage_type)
    if pa.types.is_struct(kind):
        return [t for i in range(kind.num_fields) for t in _leaf_types(kind.field(i).type)]
    if pa.types.is_map(kind):
        return [*_leaf_types(kind.key_type), *_leaf_types(kind.item_type)]
    if not _primitive(kind):
        return _leaf_types(kind.value_type)
    return [kind]


@dataclass
class _Plan:
    fields: list[int]  # top-level fields to read
    leaves: list[int]  # their leaf columns
    as_dictionary: list[int]  # flat string/binary leaves, read as dictionaries
    skipped: list[str]  # the fields left out, with why


def _plan(data: bytes, parquet: pq.ParquetFile, rows: int) -> _Plan:
    import pyarrow as pa

    schema = parquet.schema_arrow
    meta = parquet.metadata
    counts = [_leaf_count(field.type) for field in schema]
    if sum(counts) != meta.num_columns:
        raise ValueError("its Arrow schema does not match its Parquet columns")
    group = meta.row_group(0)
    plan = _Plan([], [], [], [])
    budget = TOTAL_BYTES
    first = 0
    for index, field in enumerate(schema):
        mine = list(range(first, first + counts[index]))
        first += counts[index]
        if index >= MAX_COLUMNS:
            break
        cost = 0
        reason = ""
        if pa.types.is_fixed_size_binary(field.type) and field.type.byte_width > CELL_CHARS:
            reason = f"values of {field.type.byte_width} bytes"
        for leaf, kind in zip(mine, _leaf_types(field.type), strict=True):
            if reason:
                break
            chunk = group.column(leaf)
            if _primitive(field.type):
                found = _flat_cost(data, chunk, rows)
            else:
                found = _nested_cost(data, chunk, _fixed_width(kind))
            if isinstance(found, str):
                reason = found
                break
            cost += found
        if not reason and cost > budget:
            reason = "the preview's memory budget is spent"
        if reason:
            plan.skipped.append(f"{field.name} ({reason})")
            continue
        budget -= cost
        plan.fields.append(index)
        plan.leaves.extend(mine)
        if _is_text(field.type) or _is_bytes(field.type):
            plan.as_dictionary.extend(mine)
    return plan


def _cut(column: pa.Array) -> pa.Array:
    """Strings/binaries cut to CELL_CHARS before they become Python objects (dictionaries first)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        return _cut(pc.take(_cut(column.dictionary), column.indices))
    if pa.types.is_string_view(column.type) or pa.types.is_binary_view(column.type):
        large = pa.large_string() if pa.types.is_string_view(column.type) else pa.large_binary()
        column = column.cast(large)  # a few rows of bounded pages
    if _is_text(column.type):
        return pc.utf8_slice_codeunits(column, 0, CELL_CHARS + 1)
    if _is_bytes(column.type):
        return pc.binary_slice(column, 0, CELL_CHARS + 1)
    return column


def read_preview(data: bytes, rows: int, cell: Any) -> TablePreview:
    """The first ``rows`` rows of the Parquet file ``data`` as strings (``cell`` formats a value).
    Raises pyarrow/OS/ValueError for a file that cannot be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if int(pa.__version__.split(".")[0]) < PYARROW_MAJOR:  # older releases cannot bound the schema
        raise ValueError(
            f"previews need pyarrow {PYARROW_MAJOR} or newer (installed: {pa.__version__}); "
            f"pip install -U 'pyarrow>={PYARROW_MAJOR}'"
        )
    if len(data) < 12 or data[-4:] != b"PAR1" or data[:4] != b"PAR1":
        raise ValueError("it is not a Parquet file")
    footer = int.from_bytes(data[-8:-4], "little")
    if footer > FOOTER_BYTES:
        raise ValueError(f"its metadata is {footer >> 20} MB (over {FOOTER_BYTES >> 20} MB)")
    opts: dict[str, Any] = {"pre_buffer": False, "thrift_string_size_limit": FOOTER_BYTES}
    probe = pq.ParquetFile(pa.BufferReader(data), schema_depth_limit=32, **opts)
    schema, meta = probe.schema_arrow, probe.metadata
    names = [str(n) for n in schema.names]
    notes = [f"{len(names) - MAX_COLUMNS} more columns not shown"] if len(names) > MAX_COLUMNS else []
    shown = names[:MAX_COLUMNS]
    if meta.num_row_groups == 0:
        return TablePreview(shown, [], meta.num_rows, notes)
    plan = _plan(data, probe, rows)
    if plan.skipped:
        notes.append("not previewed: " + ", ".join(plan.skipped))
    if not plan.fields:
        return TablePreview(shown, [], meta.num_rows, notes)
    parquet = pq.ParquetFile(
        pa.BufferReader(data),
        metadata=meta,
        read_dictionary=plan.as_dictionary,
        schema_depth_limit=32,
        **opts,
    )
    batches = parquet.reader.iter_batches(rows, [0], column_indices=plan.leaves, use_threads=False)
    batch = next(iter(batches), None)
    if batch is None:
        return TablePreview(shown, [], meta.num_rows, notes)
    values = {index: _cut(batch.column(pos)).to_pylist() for pos, index in enumerate(plan.fields)}
    table = [
        [cell(values[i][r]) if i in values else SKIPPED for i in range(len(shown))]
        for r in range(batch.num_rows)
    ]
    return TablePreview(shown, table, meta.num_rows, notes)
