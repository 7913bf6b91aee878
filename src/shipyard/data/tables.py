"""Tables in and out: values to Arrow, the stored schema (with column tags) and per-column
statistics, computed from the data or read from Parquet footers (no data pages read)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq


def is_table(value: object) -> bool:
    """A pandas DataFrame, an Arrow table or record batch."""
    kind = type(value)
    return (kind.__module__.startswith("pandas") and kind.__name__ == "DataFrame") or (
        kind.__module__.startswith("pyarrow") and kind.__name__ in ("Table", "RecordBatch")
    )


def to_arrow(value: Any) -> tuple[pa.Table, str]:
    """(the Arrow table, its source format: ``dataframe`` or ``arrow``)."""
    import pyarrow as pa

    if isinstance(value, pa.Table):
        return value, "arrow"
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value]), "arrow"
    try:
        return pa.Table.from_pandas(value, preserve_index=None), "dataframe"
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise InvalidInputError(f"cannot snapshot this DataFrame as a table: {exc}") from None


def columns_of(
    schema: pa.Schema, column_tags: Mapping[str, Sequence[str]] | None
) -> tuple[dict[str, Any], ...]:
    """The stored schema: name, Arrow type and tags per column; unknown tagged columns refused."""
    tags = dict(column_tags or {})
    unknown = sorted(set(tags) - set(schema.names))
    if unknown:
        raise InvalidInputError(
            f"column_tags names columns the data does not have: {', '.join(map(repr, unknown))}; "
            f"the columns are {', '.join(schema.names[:20])}"
        )
    for name, values in tags.items():
        if isinstance(values, str) or not all(isinstance(t, str) and t.strip() for t in values):
            raise InvalidInputError(f"the tags of column {name!r} must be a list of non-empty strings")
    return tuple(
        {"name": f.name, "type": str(f.type), "tags": sorted(set(tags.get(f.name, ())))} for f in schema
    )


def _json_scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value if not isinstance(value, str) else value[:200]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return str(value)[:200]


def table_stats(table: pa.Table) -> dict[str, dict[str, Any]]:
    """Per column: null count, min and max (orderable types), mean (numbers)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stats: dict[str, dict[str, Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        entry: dict[str, Any] = {"nulls": int(column.null_count)}
        kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            mm = pc.min_max(column).as_py()
            mean = pc.mean(column).as_py()
            entry.update(min=_json_scalar(mm["min"]), max=_json_scalar(mm["max"]), mean=_json_scalar(mean))
        elif pa.types.is_temporal(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
            mm = pc.min_max(column).as_py()
            entry.update(min=_json_scalar(mm["min"]), max=_json_scalar(mm["max"]))
        elif pa.types.is_boolean(kind):
            entry["true"] = int(pc.sum(column).as_py() or 0)
        stats[name] = entry
    return stats


def parquet_stats(files: Iterable[pq.FileMetaData]) -> dict[str, dict[str, Any]]:
    """Null counts and min/max per top-level column from the row-group statistics of footers."""
    stats: dict[str, dict[str, Any]] = {}
    for meta in files:
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            for c in range(group.num_columns):
                chunk = group.column(c)
                name = chunk.path_in_schema
                if "." in name:  # nested: leave it out
                    continue
                entry = stats.setdefault(name, {"nulls": 0})
                st = chunk.statistics
                if st is None or not st.has_null_count:
                    entry["nulls"] = None
                elif entry["nulls"] is not None:
                    entry["nulls"] += int(st.null_count)
                if st is not None and st.has_min_max:
                    _widen(entry, _json_scalar(st.min), _json_scalar(st.max))
    return stats


def _widen(entry: dict[str, Any], low: Any, high: Any) -> None:
    try:
        entry["min"] = low if "min" not in entry else min(entry["min"], low)
        entry["max"] = high if "max" not in entry else max(entry["max"], high)
    except TypeError:  # mixed types across files: keep what there is
        pass
