"""A source's log rows, one group at a time: the cold analysis reads ten million rows, and holding
all of them at once (ten columns of ten million values, then their joined copies) costs more in
first-touched memory than the arithmetic on them. :func:`stream` reads the groups' segments in one
DuckDB query (multi-threaded, in file order, then position) and hands each group its rows as soon
as they are all read, in arrays of one group's size that the allocator reuses from group to group;
:func:`split` cuts a log read whole into the same parts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.experiments.arrays import numpy_of

if TYPE_CHECKING:
    import pyarrow as pa

T = TypeVar("T")
R = TypeVar("R")
BATCH_ROWS = 1 << 20
AHEAD = 3  # parts read ahead of the results (each one group of rows)


class Unordered(Exception):
    """The query returned rows out of file order: the caller reads the log whole and sorts it."""


def stream(
    con: Any, sql: str, items: list[T], files_per_item: list[int]
) -> Iterator[tuple[T, dict[str, Any]]]:
    """Each of ``items`` with the columns of its rows (``sql``'s, which has ``seg``: a row's file,
    an index into the items' files in order, and ``pos``: its position in that file), as numpy
    arrays (strings stay Arrow), in order; an item none of whose rows is read gets empty columns.
    Raises :class:`Unordered` when a row comes before one already read."""
    import numpy as np

    first_file = np.cumsum([0, *files_per_item])
    cursor = con.cursor()  # its own connection: the caller queries on while the rows stream
    try:
        yield from _parts(cursor.sql(sql).to_arrow_reader(BATCH_ROWS), items, first_file)
    finally:
        cursor.close()


def _parts(reader: Any, items: list[T], first_file: Any) -> Iterator[tuple[T, dict[str, Any]]]:
    import numpy as np

    schema = reader.schema
    pending: list[pa.RecordBatch] = []
    g, last = 0, (-1, -1)
    for batch in reader:
        if not batch.num_rows:
            continue
        seg = np.asarray(numpy_of(batch.column(schema.get_field_index("seg"))), dtype=np.int64)
        pos = np.asarray(numpy_of(batch.column(schema.get_field_index("pos"))), dtype=np.int64)
        if not _ordered(seg, pos, last):
            raise Unordered
        last = (int(seg[-1]), int(pos[-1]))
        owner = np.searchsorted(first_file, seg, side="right") - 1  # each row's item (non-decreasing)
        start = 0
        while start < len(seg):
            it = int(owner[start])
            while g < it:  # every row of the items before it has been read
                yield items[g], columns(pending, schema)
                pending, g = [], g + 1
            stop = int(np.searchsorted(owner, it, side="right"))
            pending.append(batch.slice(start, stop - start))
            start = stop
    while g < len(items):
        yield items[g], columns(pending, schema)
        pending, g = [], g + 1


def each(
    fn: Callable[[T, dict[str, Any]], R], parts: Iterator[tuple[T, dict[str, Any]]]
) -> list[tuple[T, R]]:
    """``fn`` of each part, in order, on two threads (numpy's sorts and searches, and DuckDB
    reading the next parts here meanwhile, release the GIL); at most ``AHEAD`` parts are read
    ahead of the results. What the parts share must be ready (or awaited by ``fn``)."""
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    out: list[tuple[T, R]] = []
    waiting: deque[tuple[T, Future[R]]] = deque()
    with ThreadPoolExecutor(2) as pool:
        for item, log in parts:
            if len(waiting) >= AHEAD:
                done, future = waiting.popleft()
                out.append((done, future.result()))
            waiting.append((item, pool.submit(fn, item, log)))
        while waiting:
            done, future = waiting.popleft()
            out.append((done, future.result()))
    return out


def split(items: list[T], bounds: Any, log: dict[str, Any]) -> Iterator[tuple[T, dict[str, Any]]]:
    """Each of ``items`` with its rows of a log read whole (``bounds[g]:bounds[g + 1]``)."""
    for g, item in enumerate(items):
        at = slice(int(bounds[g]), int(bounds[g + 1]))
        yield item, {name: column[at] for name, column in log.items()}


def columns(batches: list[pa.RecordBatch], schema: pa.Schema) -> dict[str, Any]:
    """Record batches' columns as numpy arrays (strings stay Arrow; no nulls: the query coalesces)."""
    import pyarrow as pa

    table = pa.Table.from_batches(batches, schema=schema)
    out: dict[str, Any] = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            out[name] = column
        else:
            out[name] = numpy_of(column)
    return out


def _ordered(seg: Any, pos: Any, last: tuple[int, int]) -> bool:
    import numpy as np

    if (int(seg[0]), int(pos[0])) <= last:
        return False
    return bool(np.all((seg[1:] > seg[:-1]) | ((seg[1:] == seg[:-1]) & (pos[1:] > pos[:-1]))))
