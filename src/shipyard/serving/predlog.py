"""The prediction log: every answered request, written off the hot path, read by monitoring.

Layout (local folder or ``s3://bucket/prefix``, the ``--log-dir`` of ``shipyard serve``; default
``$SHIPYARD_HOME/predictions``)::

    <log_dir>/<deployment>/<YYYY-MM-DD>/<HHMMSS>-<pid>-<seq>.parquet

One Parquet segment holds up to ``log_segment_rows`` rows or ``log_flush_s`` seconds of requests;
a segment appears atomically (written under a temporary name, then renamed), so readers never see
a partial file. Schema, one row per input row:

=============  ==========================  ===============================================
column         type                        meaning
=============  ==========================  ===============================================
request_id     string                      the request id (``X-Request-ID``)
ts             timestamp[us, UTC]          when the request arrived
deployment     string                      the deployment (default: the model name)
model          string                      the registered model name
version        int64 (null for runs:/)     the model version that produced the row
role           string                      ``primary`` (returned), ``shadow`` (logged only)
                                           or ``error`` (the model failed: prediction null)
latency_ms     float64                     request latency (shadow: its own model latency)
row            int32                       the row's index inside its request
arm            string                      an experiment's arm (``control``/``challenger``):
                                           set by ``--experiment`` deployments, and by any
                                           service an agent's router splits (the arm it
                                           assigned, signed: :mod:`shipyard.experiments.armtag`)
experiment     string                      the experiment of ``arm`` (logs written before it
                                           have ``arm`` alone; readers take a missing column
                                           as null)
<join key>...  int64 or string             a deployment with ``--features``: the entity's
                                           join keys (``entity_<key>`` where the name is
                                           taken; null for rows sent as records)
<feature>...   the signature's types        one column per input feature (a feature named like
                                           a column above is stored as ``input_<name>``)
prediction     the model's output type      the prediction
proba          list<float64> (nullable)    class probabilities, when the flavor has them
=============  ==========================  ===============================================

Losses are bounded and counted, never felt by callers: records go through a bounded queue; when it
is full the record is dropped and ``shipyard_serving_prediction_log_dropped_total{reason="queue_full"}``
counts it; a failed write counts its rows under ``reason="write_failed"``.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.fs as pafs

    from shipyard.serving.logpolicy import Source
    from shipyard.serving.metrics import ServingMetrics
    from shipyard.tracking.stores import Stores

log = logging.getLogger("shipyard.serving")

FIXED_COLUMNS = ("request_id", "ts", "deployment", "model", "version", "role", "latency_ms", "row")
OUTPUT_COLUMNS = ("prediction", "proba", "arm", "experiment")
_TEXT_COLUMNS = ["request_id", "deployment", "model", "role"]  # dictionary-encoded; numbers are not
_CONVERT_S = 0.05  # how often queued records become Arrow
_CONVERT_ROWS = 500  # records per conversion step (about 3 ms of GIL time)


@dataclass
class LogEntry:
    request_id: str
    ts: datetime
    model: str
    version: int | None
    role: str
    latency_ms: float
    columns: dict[str, list[Any]]
    predictions: list[Any]
    proba: list[list[float]] | None
    keys: dict[str, list[Any]] | None = None  # join key -> one value per row (entities bodies)
    arm: str | None = None  # an experiment's arm: "control" | "challenger"
    experiment: str | None = None  # the experiment the arm belongs to


def feature_column(name: str) -> str:
    """The log column of input feature ``name``."""
    return f"input_{name}" if name in FIXED_COLUMNS or name in OUTPUT_COLUMNS else name


def log_sources(columns: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{log column: (view, feature)}`` of a deployment whose input ``columns`` come from views
    (``{input column: view}``; a column is its view's feature of the same name)."""
    return {feature_column(column): (view, column) for column, view in columns.items()}


def key_column(key: str, inputs: Collection[str]) -> str:
    """The log column of entity join key ``key`` (``entity_<key>`` where the name is taken)."""
    taken = key in FIXED_COLUMNS or key in OUTPUT_COLUMNS or feature_column(key) in inputs
    return f"entity_{key}" if taken else key


def log_keys(
    join_keys: Mapping[str, Sequence[str]], inputs: Collection[str]
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``{join key: (log column, views keyed by it)}`` of a deployment that serves feature views
    (``join_keys``: ``{key: views using it}``), beside its input columns ``inputs`` (log names)."""
    return {key: (key_column(key, inputs), tuple(views)) for key, views in join_keys.items()}


def open_filesystem(location: str, s3_endpoint_url: str | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path inside it (``s3://`` honours ``SHIPYARD_S3_ENDPOINT_URL``)."""
    import pyarrow.fs as pafs

    if location.startswith("s3://"):
        endpoint = s3_endpoint_url or os.environ.get("SHIPYARD_S3_ENDPOINT_URL")
        kwargs: dict[str, Any] = {}
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kwargs = {"endpoint_override": host or scheme, "scheme": scheme if host else "https"}
        region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
        if region:
            kwargs["region"] = region
        return pafs.S3FileSystem(**kwargs), location[len("s3://") :].rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(location)


class PredictionLogWriter:
    """A background thread that writes queued :class:`LogEntry` records as Parquet segments."""

    def __init__(
        self,
        location: str,
        deployment: str,
        metrics: ServingMetrics,
        *,
        max_queue: int = 100_000,
        flush_s: float = 1.0,
        segment_rows: int = 50_000,
        sources: Mapping[str, tuple[str, str]] | None = None,
        keys: Mapping[str, tuple[str, tuple[str, ...]]] | None = None,
    ) -> None:
        self.fs, self.root = open_filesystem(location)
        # log column -> (feature view, feature): the columns whose values come from feature views
        self.sources = dict(sources or {})
        # join key -> (its log column, the views keyed by it): entities bodies log their keys
        self.keys = dict(keys or {})
        self.deployment = deployment
        self.metrics = metrics
        self.flush_s = flush_s
        self.segment_rows = segment_rows
        self.max_queue = max_queue
        # a deque, drained every flush_s: appends never take a lock or wake the writer, so the
        # writer thread does not contend with the event loop for the GIL on every request
        self._queue: collections.deque[LogEntry] = collections.deque()
        self._stop = threading.Event()
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name="shipyard-prediction-log", daemon=True)
        self._dropped = metrics.log_dropped.labels("queue_full")

    @property
    def key_columns(self) -> dict[str, str]:
        """Join key -> its log column."""
        return {key: column for key, (column, _) in self.keys.items()}

    def start(self) -> None:
        self._thread.start()

    def put(self, entry: LogEntry) -> None:
        """Never blocks: a full queue drops the record (counted)."""
        if len(self._queue) >= self.max_queue:
            self._dropped.inc(len(entry.predictions))
            return
        self._queue.append(entry)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        """Every ``_CONVERT_S`` turn what is queued into Arrow (short GIL holds beside the event
        loop); every ``flush_s`` (or ``segment_rows``) write the converted tables as one segment."""

        tables: list[pa.Table] = []
        rows = 0
        last = time.monotonic()
        while True:
            stopping = self._stop.wait(min(_CONVERT_S, self.flush_s))
            while self._queue and rows < self.segment_rows:
                pending: list[LogEntry] = []
                count = 0
                while self._queue and count < _CONVERT_ROWS:
                    entry = self._queue.popleft()
                    pending.append(entry)
                    count += len(entry.predictions)
                try:
                    tables.append(entries_table(pending, self.deployment, self.key_columns))
                    rows += count
                except Exception:
                    log.exception("could not convert %d prediction-log rows", count)
                    self.metrics.log_dropped.labels("write_failed").inc(count)
            if tables and (stopping or rows >= self.segment_rows or time.monotonic() - last >= self.flush_s):
                self._write(tables, rows)
                tables, rows, last = [], 0, time.monotonic()
            if stopping and not self._queue:
                return

    def _write(self, tables: list[pa.Table], rows: int) -> None:
        import pyarrow as pa

        try:
            self._write_table(pa.concat_tables(tables, promote_options="default"))
            self.metrics.log_written.inc(rows)
        except Exception:
            log.exception("could not write %d prediction-log rows", rows)
            self.metrics.log_dropped.labels("write_failed").inc(rows)

    def _write_table(self, table: pa.Table) -> None:
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq

        if self.sources or self.keys:
            from shipyard.serving.logpolicy import encode_sources

            table = table.replace_schema_metadata(encode_sources(self.sources, self.keys))
        now = datetime.now(UTC)
        self._seq += 1
        folder = f"{self.root}/{self.deployment}/{now:%Y-%m-%d}"
        name = f"{now:%H%M%S}-{os.getpid()}-{self._seq:06d}.parquet"
        self.fs.create_dir(folder, recursive=True)
        if isinstance(self.fs, pafs.LocalFileSystem):
            tmp = f"{folder}/.{name}.tmp"
            pq.write_table(table, tmp, filesystem=self.fs, use_dictionary=_TEXT_COLUMNS)
            self.fs.move(tmp, f"{folder}/{name}")
        else:  # an object store's PUT is atomic already
            pq.write_table(table, f"{folder}/{name}", filesystem=self.fs, use_dictionary=_TEXT_COLUMNS)


def entries_table(
    entries: list[LogEntry], deployment: str, key_columns: Mapping[str, str] | None = None
) -> pa.Table:
    """One Arrow table of log rows (flattening in C with ``itertools``: this runs beside the event
    loop, so its GIL time is latency for requests). ``key_columns`` (join key -> log column): the
    entity keys of entities bodies, null for rows sent as records."""
    import pyarrow as pa

    chain = itertools.chain.from_iterable
    counts = [len(e.predictions) for e in entries]
    total = sum(counts)

    def repeat(values: list[Any], kind: pa.DataType) -> pa.Array:
        if total == len(entries):  # one row per request: nothing to repeat
            return pa.array(values, kind)
        return pa.array(
            list(chain(itertools.repeat(v, n) for v, n in zip(values, counts, strict=True))), kind
        )

    data: dict[str, Any] = {
        "request_id": repeat([e.request_id for e in entries], pa.string()),
        "ts": repeat([e.ts for e in entries], pa.timestamp("us", tz="UTC")),
        "deployment": pa.array([deployment] * total, pa.string()),
        "model": repeat([e.model for e in entries], pa.string()),
        "version": repeat([e.version for e in entries], pa.int64()),
        "role": repeat([e.role for e in entries], pa.string()),
        "latency_ms": repeat([e.latency_ms for e in entries], pa.float64()),
        "row": pa.array(list(chain(range(n) for n in counts)), pa.int32()),
    }
    if any(e.arm is not None for e in entries):
        data["arm"] = repeat([e.arm for e in entries], pa.string())
    if any(e.experiment is not None for e in entries):
        data["experiment"] = repeat([e.experiment for e in entries], pa.string())
    for key, column in (key_columns or {}).items():
        data[column] = _keys([e.keys.get(key) if e.keys else None for e in entries], counts)
    for name in entries[0].columns:
        data[feature_column(name)] = _flat([e.columns[name] for e in entries], total)
    data["prediction"] = _flat([e.predictions for e in entries], total)
    probas = list(chain(e.proba if e.proba is not None else [None] * len(e.predictions) for e in entries))
    data["proba"] = pa.array(probas, pa.list_(pa.float64()))
    return pa.table(data)


def _keys(lists: list[list[Any] | None], counts: list[int]) -> pa.Array:
    """One join key's values (None: a request sent as records): integers as int64 and strings as
    strings, as the online store keeps them (a key of the other type is an unknown entity, never
    logged); a mix as strings."""
    import pyarrow as pa

    values = list(
        itertools.chain.from_iterable(
            v if v is not None else [None] * n for v, n in zip(lists, counts, strict=True)
        )
    )
    kinds = {type(v) for v in values if v is not None}
    if not kinds:  # no entities here: untyped nulls, which take the type of the other tables
        return pa.nulls(len(values))
    if kinds == {int}:
        return pa.array(values, pa.int64())
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _flat(lists: list[list[Any]], total: int) -> pa.Array:
    """Concatenate per-request values; numbers go through numpy (several times faster than Arrow's
    conversion of Python objects)."""
    import numpy as np
    import pyarrow as pa

    values = itertools.chain.from_iterable(lists)
    first = lists[0][0] if lists and lists[0] else None
    if type(first) is float or type(first) is int:
        kind = "float64" if type(first) is float else "int64"
        try:
            return pa.array(np.fromiter(values, dtype=kind, count=total))
        except (TypeError, ValueError, OverflowError):  # mixed types: Arrow decides
            values = itertools.chain.from_iterable(lists)
    return pa.array(list(values))


def read_prediction_log(
    log_dir: str,
    deployment: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    as_arrow: bool = False,
    stores: Stores | None = None,
) -> pd.DataFrame | pa.Table:
    """The prediction log of ``deployment`` (schema in the module doc), oldest first.

    Columns whose values a deployment fetched from feature views (``--features``) carry those
    views' data policies for ``settings.user`` (:mod:`shipyard.serving.logpolicy`): hidden ones are
    left out, masked ones masked. ``stores`` (default: the process's) holds the policies; it is
    opened only for a log with such columns.

    ``start``/``end`` (UTC datetimes) keep rows with ``start <= ts < end``; whole days outside the
    range are not read. Returns a pandas DataFrame (a pyarrow Table with ``as_arrow=True``); an empty
    one (no columns) when nothing was logged yet.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    fs, root = open_filesystem(log_dir)
    base = f"{root}/{deployment}"
    files: list[str] = []
    try:
        days = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    except OSError:
        days = []
    for day in sorted(days, key=lambda d: d.base_name):
        if day.type != pafs.FileType.Directory or not _day_in_range(day.base_name, start, end):
            continue
        for info in fs.get_file_info(pafs.FileSelector(day.path)):
            if info.base_name.endswith(".parquet") and not info.base_name.startswith("."):
                files.append(info.path)
    sources: set[Source] = set()
    if not files:
        table = pa.table({})
    else:
        from shipyard.serving.logpolicy import decode_sources

        parts = [pq.read_table(f, filesystem=fs) for f in sorted(files)]
        sources = decode_sources(part.schema.metadata for part in parts)
        table = _concat(parts).replace_schema_metadata(None)
        if start is not None:
            table = table.filter(
                pc.greater_equal(table["ts"], pa.scalar(start, pa.timestamp("us", tz="UTC")))
            )
        if end is not None:
            table = table.filter(pc.less(table["ts"], pa.scalar(end, pa.timestamp("us", tz="UTC"))))
        table = table.sort_by([("ts", "ascending"), ("request_id", "ascending"), ("row", "ascending")])
    if sources:
        table = _guarded(table, sources, stores)
    return table if as_arrow else table.to_pandas()


def _concat(parts: list[pa.Table]) -> pa.Table:
    """The segments as one table; a column typed differently in different segments (an entity key
    logged as integers, then as strings) is read as strings."""
    import pyarrow as pa

    try:
        return pa.concat_tables(parts, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        types: dict[str, set[pa.DataType]] = {}
        for part in parts:
            for field in part.schema:
                if not pa.types.is_null(field.type):
                    types.setdefault(field.name, set()).add(field.type)
        mixed = {name for name, found in types.items() if len(found) > 1}
        if not mixed:
            raise
        cast = []
        for part in parts:
            for name in mixed & set(part.column_names):
                i = part.column_names.index(name)
                part = part.set_column(i, name, part.column(i).cast(pa.string()))  # noqa: PLW2901
            cast.append(part)
        return pa.concat_tables(cast, promote_options="default")


def _guarded(table: pa.Table, sources: set[Source], stores: Stores | None) -> pa.Table:
    from shipyard.data.policies import policy_salt, view_reader
    from shipyard.features.guard import ViewGuard
    from shipyard.serving.logpolicy import guard_log

    if stores is None:
        from shipyard.tracking.fluent import get_stores

        stores = get_stores()
    reader = view_reader(stores)  # over a server: the server's decision for the token's principal
    if reader is None:
        return table
    guard = ViewGuard(reader, policy_salt(stores.settings.home), stores.settings.project)
    return guard_log(table, sources, guard)


def _day_in_range(name: str, start: datetime | None, end: datetime | None) -> bool:
    try:
        day = date.fromisoformat(name)
    except ValueError:
        return False
    if start is not None and day < start.astimezone(UTC).date():
        return False
    return not (end is not None and day > end.astimezone(UTC).date())
