"""Batch inference: score a Parquet/CSV file (local or ``s3://``) in chunks, resumably.

``batch_predict(model, INPUT, OUTPUT)`` (``shipyard batch``) streams INPUT in chunks of
``chunk_rows`` rows (memory stays bounded: at most ``2 * workers`` chunks in flight), predicts each
chunk in a pool of ``workers`` threads (numpy/scikit-learn release the GIL in their inner loops)
and writes ``prediction`` and ``model_version`` for every row, in input order, beside the input
columns that ``keep`` names: ``"all"`` (the default), ``"none"`` (only the computed columns: the
fastest, when rows are matched by position) or a list such as ``["id", "ts"]`` (the key columns
that identify a row).

INPUT: a ``.parquet`` file, a ``.csv`` file (typed by the model's signature), a folder of Parquet
files, or a dataset version (``datasets:/NAME/N`` or ``@ALIAS``: streamed with the reader's data
policies applied, :mod:`shipyard.serving.batch_dataset`). OUTPUT: a path ending in ``.parquet``
or ``.csv`` is one file; anything else is a folder of ``part-NNNNNN.parquet`` files (one per
chunk, in input order).

Resuming: chunk *i* is always rows ``[i*chunk_rows, (i+1)*chunk_rows)`` of the input. Each finished
chunk is written atomically (a temporary name, then a rename) as ``OUTPUT.staging/part-NNNNNN.arrow``
(Arrow IPC; ``.parquet`` for a folder output, whose parts become the output), next to a
``manifest.json`` naming the input, the model package, ``chunk_rows`` and the kept columns. For a
single-file output from Parquet that keeps every input column a part holds only the computed
columns, and the final assembly streams the input a second time beside them (cheaper than writing
and re-reading every input column); otherwise a part is the finished rows. A rerun after a crash
(even ``kill -9``) skips the chunks whose part exists, so the output has every row exactly once; a
rerun with another model, chunk size or ``keep`` is refused (delete the staging folder to start
over). When every chunk is done the parts are assembled (or moved) into OUTPUT and the staging
folder is removed.

In a flow, call it inside a step (stores come from the step's run)::

    @step
    def score(day: str) -> str:
        return batch_predict("models:/fraud@champion", f"s3://in/{day}.parquet",
                             f"s3://out/{day}.parquet").output
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.serving.batch_dataset import is_dataset_uri, open_dataset_input
from shipyard.serving.predlog import open_filesystem

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from shipyard.registry.predictor import LoadedModel
    from shipyard.tracking.stores import Stores

Progress = Callable[[int, int | None], None]  # (rows done, total rows or None)
Keep = Literal["all", "none"] | Sequence[str]
COMPUTED = ("prediction", "model_version")
_ARROW_TYPES = {
    "bool": "bool_",
    "int32": "int32",
    "int64": "int64",
    "float32": "float32",
    "float64": "float64",
    "string": "string",
}


@dataclass(frozen=True)
class BatchResult:
    output: str
    rows: int
    chunks: int
    skipped_chunks: int  # finished by an earlier (interrupted) run
    version: int | None
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _format(path: str) -> str:
    lower = path.lower().rstrip("/")
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith(".csv"):
        return "csv"
    return "folder"


def _read_batches(
    model: LoadedModel, fs: pafs.FileSystem, path: str, chunk_rows: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.dataset as ds

    kind = _format(path)
    if kind == "csv":
        types = {
            c.name: getattr(pa, _ARROW_TYPES[c.type])()
            for c in model.signature.inputs
            if c.type in _ARROW_TYPES
        }
        stream = fs.open_input_stream(path)
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=8 << 20),
            convert_options=pcsv.ConvertOptions(column_types=types),
        )
        yield from reader
        return
    dataset = ds.dataset(path, format="parquet", filesystem=fs)
    yield from dataset.to_batches(batch_size=chunk_rows, batch_readahead=2, fragment_readahead=1)


def _chunks(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Exactly ``chunk_rows`` rows per chunk (the last one may be shorter), whatever the input batching."""
    import pyarrow as pa

    buffered: list[pa.RecordBatch] = []
    size = 0
    for incoming in batches:
        rest = incoming
        while rest.num_rows:
            take = min(chunk_rows - size, rest.num_rows)
            buffered.append(rest.slice(0, take))
            size += take
            rest = rest.slice(take)
            if size == chunk_rows:
                yield pa.Table.from_batches(buffered)
                buffered, size = [], 0
    if size:
        yield pa.Table.from_batches(buffered)


def _frame(table: pa.Table) -> Any:
    """The chunk as a DataFrame. When every column has one numeric type and no nulls (the usual
    feature matrix) the columns are copied straight into one Fortran-ordered 2-D array, which the
    model then reads without another copy; otherwise Arrow's own conversion."""
    import numpy as np
    import pandas as pd
    import pyarrow.types as pt

    types = {f.type for f in table.schema}
    if len(types) == 1 and table.num_columns:
        (kind,) = types
        if (pt.is_floating(kind) or pt.is_integer(kind)) and not any(c.null_count for c in table.columns):
            matrix = np.empty((table.num_rows, table.num_columns), dtype=kind.to_pandas_dtype(), order="F")
            for j, column in enumerate(table.columns):
                start = 0
                for piece in column.chunks:  # piece by piece: no concatenated temporary
                    matrix[start : start + len(piece), j] = piece.to_numpy()
                    start += len(piece)
            return pd.DataFrame(matrix, columns=table.column_names, copy=False)
    return table.to_pandas(split_blocks=True)


def _score(model: LoadedModel, table: pa.Table) -> pa.Table:
    """The computed columns of one chunk: ``prediction`` and ``model_version``."""
    import numpy as np
    import pyarrow as pa

    names = model.signature.column_names
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise InvalidInputError(f"the input has no column {missing[0]!r}; the model expects {names}")
    frame = _frame(table.select(names))
    preds = np.asarray(model.predict(frame))
    version = np.full(len(preds), model.version if model.version is not None else -1, dtype=np.int64)
    return pa.table({"prediction": pa.array(preds), "model_version": pa.array(version)})


def _keep_names(keep: Keep) -> list[str] | None:
    """The columns ``keep`` names (None: all of them)."""
    if isinstance(keep, str):
        if keep == "all":
            return None
        if keep == "none":
            return []
        keep = [c.strip() for c in keep.split(",") if c.strip()]
        if not keep:
            raise InvalidInputError("--keep takes all, none or a comma-separated list of input columns")
    return list(dict.fromkeys(keep))


def _kept_columns(keep: Keep, available: Sequence[str]) -> list[str] | None:
    """The input columns to copy into the output (None: all of them), checked against the input's
    columns (``available``)."""
    chosen = _keep_names(keep)
    if chosen is None:
        return None
    missing = [c for c in chosen if c not in available]
    if missing:
        raise InvalidInputError(
            f"--keep names {missing[0]!r}, which the input does not have; "
            f"its columns: {list(available)} (or use --keep all / --keep none)"
        )
    clash = [c for c in chosen if c in COMPUTED]
    if clash:
        raise InvalidInputError(
            f"--keep {clash[0]!r}: the output computes a column of that name; rename it in the input"
        )
    return chosen


def _describe_input(fs: pafs.FileSystem, path: str) -> tuple[list[str], int | None]:
    """The input's column names and row count (None for CSV: known once read), from one look at
    the Parquet footers or at a CSV file's header row."""
    if _format(path) == "csv":
        import pyarrow.csv as pcsv

        with fs.open_input_stream(path) as stream:
            return list(pcsv.open_csv(stream).schema.names), None
    import pyarrow.dataset as ds

    dataset = ds.dataset(path, format="parquet", filesystem=fs)
    return list(dataset.schema.names), int(dataset.count_rows())


def _joined(table: pa.Table, computed: pa.Table) -> pa.Table:
    for name in computed.column_names:
        table = table.append_column(name, computed.column(name))
    return table


def _dictionary_columns(table: pa.Table) -> list[str]:
    """Dictionary-encode text columns only: on floats it costs more than it saves."""
    import pyarrow.types as pt

    return [f.name for f in table.schema if pt.is_string(f.type) or pt.is_large_string(f.type)]


class _Staging:
    """The staging folder: manifest, atomic part files, and the final assembly."""

    def __init__(self, fs: pafs.FileSystem, output: str, part_format: str) -> None:
        self.fs = fs
        self.output = output.rstrip("/")
        self.path = self.output + ".staging"
        self.local = type(fs).__name__ == "LocalFileSystem"
        self.part_format = part_format  # "parquet" (they become the output) or "arrow" (IPC)

    def part(self, index: int) -> str:
        return f"{self.path}/part-{index:06d}.{self.part_format}"

    def open(self, manifest: dict[str, Any]) -> set[int]:
        """Create or check the manifest; the indexes of finished chunks."""
        import pyarrow.fs as pafs

        self.fs.create_dir(self.path, recursive=True)
        where = f"{self.path}/manifest.json"
        if self.fs.get_file_info(where).type == pafs.FileType.File:
            with self.fs.open_input_stream(where) as fh:
                found = json.loads(fh.read())
            if found != manifest:
                changed = sorted(k for k in manifest if found.get(k) != manifest[k])
                raise ConflictError(
                    f"{self.path} holds an unfinished batch job with another {', '.join(changed)}; "
                    "rerun with the same arguments to resume, or delete that folder to start over"
                )
        else:
            self._write_bytes(where, json.dumps(manifest, sort_keys=True).encode())
        done = set()
        for info in self.fs.get_file_info(pafs.FileSelector(self.path)):
            name = info.base_name
            if name.startswith("part-") and name.endswith(f".{self.part_format}"):
                done.add(int(name[5:11]))
        return done

    def _write_bytes(self, path: str, data: bytes) -> None:
        tmp = path + f".tmp-{os.getpid()}" if self.local else path
        with self.fs.open_output_stream(tmp) as fh:
            fh.write(data)
        if tmp != path:
            self.fs.move(tmp, path)

    def write_part(self, index: int, table: pa.Table) -> None:
        """Write one finished chunk atomically: a temporary name, then a rename (an S3 object
        appears only when its upload completes)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        final = self.part(index)
        tmp = f"{self.path}/.part-{index:06d}.{os.getpid()}.tmp" if self.local else final
        if self.part_format == "parquet":
            pq.write_table(table, tmp, filesystem=self.fs, use_dictionary=_dictionary_columns(table))
        else:  # staging only, read back once: Arrow IPC costs no encoding either way
            with self.fs.open_output_stream(tmp) as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        if tmp != final:
            self.fs.move(tmp, final)

    def read_part(self, index: int) -> pa.Table:
        import pyarrow as pa

        with self.fs.open_input_file(self.part(index)) as source:
            return pa.ipc.open_file(source).read_all()

    def finish(self, chunks: int, kind: str, inputs: Callable[[], Iterator[pa.Table]] | None) -> None:
        """Move the parts (a folder output) or assemble them into OUTPUT. With ``inputs`` the parts
        hold only the computed columns and the input is streamed again beside them: reading the
        input twice is cheaper than writing and reading every input column once more."""
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        parts = [self.part(i) for i in range(chunks)]
        if kind == "folder":
            self.fs.create_dir(self.output, recursive=True)
            for p in parts:
                self.fs.move(p, f"{self.output}/{p.rsplit('/', 1)[1]}")
            self.fs.delete_dir(self.path)
            return
        tables: Iterator[pa.Table] = (self.read_part(i) for i in range(chunks))
        if inputs is not None:
            tables = (_joined(table, computed) for table, computed in zip(inputs(), tables, strict=True))
        tmp = f"{self.path}/assembled.tmp"
        writer: Any = None
        with self.fs.open_output_stream(tmp) as sink:
            for table in tables:
                if writer is None:
                    writer = (
                        pq.ParquetWriter(sink, table.schema, use_dictionary=_dictionary_columns(table))
                        if kind == "parquet"
                        else pcsv.CSVWriter(sink, table.schema)
                    )
                writer.write_table(table)
            if writer is not None:
                writer.close()
        self.fs.move(tmp, self.output)
        self.fs.delete_dir(self.path)


def batch_predict(
    model: str | LoadedModel,
    input: str,
    output: str,
    *,
    chunk_rows: int = 100_000,
    workers: int = 1,
    stores: Stores | None = None,
    allow_unsafe: bool = False,
    trusted: Sequence[str] = (),
    progress: Progress | None = None,
    keep: Keep = "all",
) -> BatchResult:
    """Score ``input`` into ``output`` (see the module doc); resumes an interrupted run."""
    if chunk_rows < 1 or workers < 1:
        raise InvalidInputError("--chunk-rows and --workers must be at least 1")
    started = time.perf_counter()
    if isinstance(model, str):
        from shipyard.registry.api import load_model

        model = load_model(model, allow_unsafe=allow_unsafe, trusted=trusted, stores=stores)
    out_fs, out_path = open_filesystem(output)
    kind = _format(output)
    source_key = input
    if is_dataset_uri(input):
        dataset = open_dataset_input(input, model.signature.column_names, _keep_names(keep), stores)
        available, total, source_key = dataset.columns, dataset.total, dataset.uri
    else:
        in_fs, in_path = open_filesystem(input)
        found = in_fs.get_file_info(in_path).type.name
        if found == "NotFound":
            raise NotFoundError(f"input {input!r} does not exist; check the path (or the bucket and key)")
        if _format(input) == "folder" and found != "Directory":
            raise InvalidInputError(
                f"input {input!r} is not a .parquet or .csv file, nor a folder of Parquet files, "
                "nor a dataset (datasets:/NAME/VERSION or datasets:/NAME@ALIAS)"
            )
        available, total = _describe_input(in_fs, in_path)
    kept = _kept_columns(keep, available)
    staging = _Staging(out_fs, out_path, "parquet" if kind == "folder" else "arrow")
    # a single-file output from Parquet that keeps every input column: parts hold only the
    # computed columns and the assembly streams the input beside them (see _Staging.finish)
    slim = kind != "folder" and _format(input) != "csv" and not is_dataset_uri(input) and kept is None
    manifest = {
        "input": source_key,
        "model": model.digest or model.uri or "",
        "chunk_rows": chunk_rows,
        "parts": "computed columns" if slim else "rows",
        "part_format": staging.part_format,
        "keep": "all" if kept is None else kept,
    }
    done = staging.open(manifest)
    rows = chunks = skipped = 0
    inflight: dict[Future[int], int] = {}

    def chunks_of_input() -> Iterator[pa.Table]:
        if is_dataset_uri(input):  # only the columns scored and kept are read
            read = None if kept is None else list(dict.fromkeys([*model.signature.column_names, *kept]))
            return _chunks(dataset.batches(chunk_rows, read), chunk_rows)
        return _chunks(_read_batches(model, in_fs, in_path, chunk_rows), chunk_rows)

    def run(index: int, table: pa.Table) -> int:
        computed = _score(model, table)
        if not slim:
            computed = _joined(table if kept is None else table.select(kept), computed)
        staging.write_part(index, computed)
        return int(table.num_rows)

    def settle(block: bool) -> None:
        nonlocal rows
        finished, _ = (
            wait(list(inflight), return_when=FIRST_COMPLETED)
            if block
            else ([f for f in inflight if f.done()], None)
        )
        for fut in finished:
            inflight.pop(fut)
            rows += fut.result()
            if progress is not None:
                progress(rows, total)

    with ThreadPoolExecutor(workers, thread_name_prefix="shipyard-batch") as pool:
        for index, table in enumerate(chunks_of_input()):
            chunks += 1
            if index in done:
                skipped += 1
                rows += table.num_rows
                if progress is not None:
                    progress(rows, total)
                continue
            while len(inflight) >= 2 * workers:
                settle(block=True)
            inflight[pool.submit(run, index, table)] = index
            settle(block=False)
        while inflight:
            settle(block=True)
    staging.finish(chunks, kind, chunks_of_input if slim else None)
    return BatchResult(output, rows, chunks, skipped, model.version, time.perf_counter() - started)
