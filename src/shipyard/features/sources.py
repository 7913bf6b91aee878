"""A view's rows as a DuckDB relation: the source read (files, a dataset version, a Postgres
query), the transformation applied, the columns checked against the declaration.

Everything here works on one DuckDB connection the caller owns (``connect``): UTC session time
zone, a memory limit and a spill folder, so joins larger than memory stream through disk."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.features.views import DatasetSource, FeatureView, FileSource, SqlSource

if TYPE_CHECKING:
    import duckdb

#: reads a dataset version (``datasets:/name/3``) as Arrow record batches
DatasetReader = Callable[[str], pa.RecordBatchReader]
_SQL_BATCH = 50_000


def connect(memory_limit: str = "2GB", spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")  # a library prints nothing on its own
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{_checked_size(memory_limit)}'")
    folder = spill or Path(tempfile.gettempdir()) / f"shipyard-duckdb-{os.getpid()}"
    con.execute("SET temp_directory = ?", [str(folder)])
    con.execute("SET preserve_insertion_order = false")
    return con


def _checked_size(text: str) -> str:
    import re

    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text.strip()):
        raise InvalidInputError(f"memory limit {text!r} is not a size such as '2GB'")
    return text.strip()


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal (DuckDB views and COPY cannot take prepared parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _files(source: FileSource, root: Path, view: str) -> list[str]:
    pattern = source.path if os.path.isabs(source.path) else str(root / source.path)
    matches = sorted(glob.glob(pattern, recursive=True))
    files = [m for m in matches if os.path.isfile(m)]
    if not files:
        raise NotFoundError(
            f"source {source.path!r} of feature view {view!r} matches no file (looked in {root}): "
            "check the path, relative to the project root"
        )
    return files


def _sql_batches(source: SqlSource) -> Iterator[pa.RecordBatch]:
    import psycopg

    with psycopg.connect(source.uri) as conn, conn.cursor(name="shipyard_features") as cursor:
        cursor.itersize = _SQL_BATCH
        cursor.execute(source.query)  # the project's own query, run with the project's credentials
        names = [column.name for column in cursor.description or ()]
        while rows := cursor.fetchmany(_SQL_BATCH):
            columns = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays([pa.array(col) for col in columns], names=names)


def register_source(
    con: duckdb.DuckDBPyConnection,
    view: FeatureView,
    root: Path,
    datasets: DatasetReader | None = None,
) -> str:
    """Register the view's rows (transformed, checked) and return the relation's name."""
    raw = f"raw_{view.name}"
    source = view.source
    if isinstance(source, FileSource):
        files = _files(source, root, view.name)
        reader = "read_csv_auto" if source.file_format() == "csv" else "read_parquet"
        listed = ", ".join(literal(file) for file in files)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(raw)} AS SELECT * FROM {reader}([{listed}])")
    elif isinstance(source, DatasetSource):
        if datasets is None:
            raise InvalidInputError(
                f"feature view {view.name!r} reads dataset {source.uri!r}: open the feature store with "
                "stores (FeatureStore(..., stores=open_stores())) so datasets can be read"
            )
        con.register(raw, datasets(source.uri))
    elif isinstance(source, SqlSource):
        first = _sql_batches(source)
        batches = list(first)
        if not batches:
            raise InvalidInputError(f"the query of feature view {view.name!r} returned no rows and no schema")
        con.register(raw, pa.Table.from_batches(batches))
    relation = f"src_{view.name}"
    if view.sql is not None:
        con.execute(f"CREATE OR REPLACE TEMP VIEW source AS SELECT * FROM {quote(raw)}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(relation)} AS {view.sql}")
    elif view.transform is not None:
        frame = con.execute(f"SELECT * FROM {quote(raw)}").df()
        result = view.transform(frame)
        if result is None or not hasattr(result, "columns"):
            raise InvalidInputError(
                f"the transformation of feature view {view.name!r} returned {type(result).__name__}: "
                "return a pandas DataFrame"
            )
        con.register(relation, pa.Table.from_pandas(result, preserve_index=False))
    else:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(relation)} AS SELECT * FROM {quote(raw)}")
    check_columns(con, view, relation)
    return relation


def check_columns(con: duckdb.DuckDBPyConnection, view: FeatureView, relation: str) -> None:
    """The relation has every declared column; the timestamps are timestamps."""
    described = con.execute(f"DESCRIBE SELECT * FROM {quote(relation)}").fetchall()
    types = {row[0]: str(row[1]).upper() for row in described}
    wanted = [*view.join_keys, view.timestamp, *view.features]
    if view.created_timestamp is not None:
        wanted.append(view.created_timestamp)
    missing = [column for column in wanted if column not in types]
    if missing:
        raise InvalidInputError(
            f"the source of feature view {view.name!r} no longer matches it: missing column(s) "
            f"{', '.join(missing)} (it has {', '.join(types)}); fix the source or the view and re-apply"
        )
    for column in filter(None, (view.timestamp, view.created_timestamp)):
        if not types[column].startswith(("TIMESTAMP", "DATE")):
            raise InvalidInputError(
                f"column {column!r} of feature view {view.name!r} holds {types[column]}, not timestamps: "
                "convert it in the source or the transformation"
            )


def describe(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, Any]:
    return {
        row[0]: str(row[1]) for row in con.execute(f"DESCRIBE SELECT * FROM {quote(relation)}").fetchall()
    }
