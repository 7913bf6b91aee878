"""The experiment's rows: DuckDB scans the prediction-log segments, the labels and the outcomes
(multi-threaded, only the columns needed, each request id reduced to two 64-bit hashes), and numpy
does the rest: the newest label per row (:mod:`.keyjoin`: a row's own or its request's, in the
order of :func:`shipyard.monitoring.logs.read_labels`: ``labelled_at``, then file, then position),
the outcomes summed per request, and the metric columns. No string column is joined, grouped or
copied per row; 10M logged predictions take seconds (bench/experiments.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.experiments.config import OUTCOME_PREFIX, ExperimentSpec

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from shipyard.experiments.data import Rows

    Floats = npt.NDArray[np.float64]

# a request id's two hashes (a row's own label: with its row); independent strings, not hash(a, b),
# which DuckDB derives from hash(a)
_H1 = "hash(request_id)"
_H2 = "hash(concat('#', request_id))"
_H1_ROW = "hash(concat(request_id, '#', CAST(\"row\" AS BIGINT)))"
_H2_ROW = "hash(concat('#', request_id, '#', CAST(\"row\" AS BIGINT)))"
_WHOLE = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "BOOLEAN")  # fmt: skip


def _files(log_dir: str, deployment: str, start: datetime | None, end: datetime | None) -> list[str]:
    from shipyard.monitoring.logs import _files as segment_files
    from shipyard.monitoring.logs import log_days
    from shipyard.monitoring.windows import as_utc

    out: list[str] = []
    for day in log_days(log_dir, deployment):
        d = datetime.fromisoformat(day.name).date()
        if (start is not None and d < as_utc(start).date()) or (end is not None and d > as_utc(end).date()):
            continue
        out.extend(str(p) for p in segment_files(day))
    return out


def _label_files(log_dir: str, deployment: str) -> list[str]:
    from shipyard.monitoring.logs import LABELS_DIR, deployment_dir

    folder = deployment_dir(log_dir, deployment) / LABELS_DIR
    return (
        sorted(str(p) for p in folder.glob("*.parquet") if not p.name.startswith("."))
        if folder.is_dir()
        else []
    )


def _listed(files: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def _types(con: Any, files: list[str]) -> dict[str, str]:
    relation = con.sql(f"SELECT * FROM read_parquet({_listed(files)}, union_by_name=true) LIMIT 0")
    return {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}


def _numeric(kind: str | None) -> bool:
    return kind is not None and (kind in _NUMERIC or kind.startswith("DECIMAL"))


def _arrays(con: Any, sql: str, rows: int | None = None) -> dict[str, Any]:
    """A query's columns as numpy arrays (strings stay Arrow), read batch by batch (no whole
    Arrow table beside the arrays). ``rows``: at most that many rows come back, so the arrays are
    allocated once and filled (pages past the rows read are never touched)."""
    import numpy as np
    import pyarrow as pa

    from shipyard.experiments.arrays import numpy_of

    reader = con.sql(sql).to_arrow_reader(1 << 20)
    schema = reader.schema
    text = {f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)}
    chunks: dict[str, list[Any]] = {f.name: [] for f in schema}
    filled: dict[str, Any] = {}
    n = 0
    for batch in reader:
        for name, column in zip(schema.names, batch.columns, strict=True):
            if name in text:
                chunks[name].append(column)
                continue
            values = numpy_of(column)  # no nulls: the query coalesces
            if rows is None:
                chunks[name].append(values)
                continue
            if name not in filled:
                filled[name] = np.empty(max(rows, n + len(values)), dtype=values.dtype)
            elif len(filled[name]) < n + len(values):  # more rows than promised: grown
                filled[name] = np.concatenate([filled[name][:n], np.empty(len(values), values.dtype)])
            filled[name][n : n + len(values)] = values
        n += batch.num_rows
    out: dict[str, Any] = {}
    for f in schema:
        if f.name in text:
            out[f.name] = pa.chunked_array(chunks[f.name], type=f.type)
        elif f.name in filled:
            out[f.name] = filled[f.name][:n]
        elif chunks[f.name]:
            out[f.name] = np.concatenate(chunks[f.name])
        else:  # no rows
            out[f.name] = numpy_of(pa.chunked_array([], type=f.type))
    return out


@dataclass
class _Labels:
    """Labels in the order they were given (the last of a key is its newest)."""

    h1: Any
    h2: Any
    own: Any  # the label names one row (else the whole request)
    y: Floats  # the label as a number (NaN: none, or not a number)
    null: Any  # the label is null
    text: Any = None  # the labels as strings, when some are not numbers
    rows: dict[str, Any] = field(default_factory=dict)
    file: Any = None  # each label's file (an index into the files read), when asked for
    rid: Any = None  # and its request id's hash (whether it names a row or the whole request)
    prepared: dict[str, Any] | None = None  # not None: joined to a log in parts, each side sorted once


def _read_labels(con: Any, files: list[str], with_file: bool = False) -> _Labels:
    import numpy as np

    kinds = _types(con, files)
    text = not _numeric(kinds.get("label"))
    at = "epoch_us(labelled_at)" if "labelled_at" in kinds else "NULL::BIGINT"
    at = f"coalesce({at}, 9223372036854775807)"  # none: last, as pandas sorts NaT

    def scan(columns: str) -> str:
        if not text:  # numbers: one scan of every file (in parallel), in file order, then position
            return (
                f"SELECT {columns.replace('{i}', 'file_index')} FROM read_parquet({_listed(files)}, "
                "file_row_number=true, union_by_name=true)"
            )
        # text: each file's labels as that file has them (a file of numbers reads "1", not "1.0")
        return " UNION ALL ".join(
            f"SELECT {columns.replace('{i}', str(i))} FROM read_parquet("
            f"'{f.replace(chr(39), chr(39) * 2)}', file_row_number=true, union_by_name=true)"
            for i, f in enumerate(files)
        )

    # log_labels writes one instant per file, files named by it: then the given order is the
    # files' order and no per-row ordering columns are read
    per_file = scan('{i} AS f, "row" >= 0 AS own, ' + at + " AS given")
    spans = con.sql(
        "SELECT f, min(given), max(given), coalesce(bool_or(own), false), count(*) "
        f"FROM ({per_file}) GROUP BY f ORDER BY f"
    )
    bounds = np.asarray(spans.fetchall(), dtype=np.int64).reshape(-1, 5)
    in_order = bool(np.all(bounds[:, 1] == bounds[:, 2]) and np.all(bounds[1:, 1] >= bounds[:-1, 2]))
    own = bool(bounds[:, 3].any())  # some labels name one row: their keys hash the row as well
    columns = (
        (
            '"row" >= 0 AS own, '
            f'CASE WHEN "row" < 0 THEN {_H1} ELSE {_H1_ROW} END AS h1, '
            f'CASE WHEN "row" < 0 THEN {_H2} ELSE {_H2_ROW} END AS h2, '
            if own
            else f"{_H1} AS h1, {_H2} AS h2, "
        )
        + "coalesce(TRY_CAST(label AS DOUBLE), 'NaN'::DOUBLE) AS y, label IS NULL AS ynull"
        + (", CAST(label AS VARCHAR) AS ytext" if text else "")
        + ("" if in_order else f", {at} AS given, file_row_number AS r")
        + (", {i}::INTEGER AS f" if with_file or not in_order else "")
        + (f", {_H1} AS rid" if with_file and own else "")
    )
    # in scan order (the connection preserves insertion order)
    data = _arrays(con, scan(columns), int(bounds[:, 4].sum()))
    if not in_order:
        import pyarrow.compute as pc

        order = np.lexsort((data["r"], data["f"], data["given"]))  # labelled_at, then file, then position
        data = {k: pc.take(v, order) if k == "ytext" else v[order] for k, v in data.items()}
    h1 = np.asarray(data["h1"], dtype=np.uint64)
    flags = data["own"] if own else np.zeros(len(h1), dtype=bool)
    labels = _Labels(h1, np.asarray(data["h2"], dtype=np.uint64), flags, data["y"], data["ynull"])
    labels.text = data.get("ytext")
    if with_file:
        labels.file = data["f"]
        labels.rid = np.asarray(data["rid"], dtype=np.uint64) if own else h1  # (whole requests: h1)
    return labels


def _log_select(  # noqa: PLR0917
    files: list[str],
    kinds: dict[str, str],
    spec: ExperimentSpec,
    arm: str | None,
    want: set[str],
    name: str | None = None,
    source: str | None = None,
) -> str:
    """One SELECT over a deployment's segments (``source``: a FROM clause to read instead, e.g.
    :func:`subset_source`'s, whose ``seg`` column is kept). A row's arm is the one it was logged with; a row
    without one (logged before arms were, or by a service no router told) takes ``arm`` (the
    deployment's fixed arm: production's log ``control``, a challenger deployment's
    ``challenger``), else its version's. With the experiment's ``name`` and an ``experiment``
    column, rows logged under another experiment are left out, and so, in a challenger
    deployment's log, are rows logged under none: its own traffic, not the experiment's."""
    names = {m.name for m in spec.metrics}
    if arm is not None:
        default = "1" if arm == "challenger" else "0"
    elif spec.challenger_version is not None and "version" in kinds:
        default = f"CASE WHEN version = {int(spec.challenger_version)} THEN 1 ELSE 0 END"
    else:
        default = "0"
    arm_sql = (
        f"CASE WHEN arm IS NULL THEN {default} WHEN arm = 'challenger' THEN 1 ELSE 0 END"
        if "arm" in kinds
        else default
    )
    where = "role IN ('primary', 'error')"
    if name is not None and "experiment" in kinds:
        quoted = name.replace("'", "''")
        if arm == "challenger":
            where += f" AND experiment = '{quoted}'"
        else:
            where += f" AND (experiment IS NULL OR experiment = '{quoted}')"
    select = [
        "epoch_us(ts) AS t", f"CAST({arm_sql} AS TINYINT) AS arm",
        'coalesce("row" = 0, false) AS first', "coalesce(role = 'error', false) AS failed",
    ]  # fmt: skip
    if "latency_ms" in names:
        select.append("coalesce(CAST(latency_ms AS DOUBLE), 'NaN'::DOUBLE) AS latency_ms")
    if "keys" in want:
        select += [f"{_H1} AS h1", f"{_H2} AS h2"]
    if "own" in want:
        select += [f"{_H1_ROW} AS o1", f"{_H2_ROW} AS o2"]
    if "prediction" in want:
        select.append("coalesce(TRY_CAST(prediction AS DOUBLE), 'NaN'::DOUBLE) AS pred")
        if "text" in want:
            select += ["prediction IS NULL AS pnull", "CAST(prediction AS VARCHAR) AS ptext"]
        if "log_loss" in names:
            proba = "proba[2]" if "proba" in kinds else "NULL"
            select.append(f"coalesce(CAST({proba} AS DOUBLE), 'NaN'::DOUBLE) AS p1")
    key = spec.sticky_key
    if key and key in kinds and '"' not in key:
        # units are only counted: a whole-number key is hashed as it is, others as text (so a key
        # logged as numbers in some segments and text in others is one unit either way)
        value = f'"{key}"' if kinds[key] in _WHOLE else f'CAST("{key}" AS VARCHAR)'
        select.append(f"CAST(hash({value}) % 9223372036854775807 AS BIGINT) AS unit")
    if source is not None:
        select += ["seg", "pos"]
        return f"SELECT {', '.join(select)} FROM {source} WHERE {where}"
    return f"SELECT {', '.join(select)} FROM read_parquet({_listed(files)}, union_by_name=true) WHERE {where}"


def subset_source(con: Any, files: list[str], kinds: dict[str, str]) -> str:
    """A FROM clause reading ``files`` (some of a deployment's segments) as if with the columns
    and types of all of them (``kinds``): a column the subset lacks reads as null, one typed
    otherwise is cast, so a row reads the same whichever other segments are read beside it; ``seg``
    is each row's index in ``files``, ``pos`` its position in its file."""
    have = _types(con, files)
    columns = []
    for column, kind in kinds.items():
        quoted = '"' + column.replace('"', '""') + '"'
        if column not in have:
            columns.append(f"CAST(NULL AS {kind}) AS {quoted}")
        elif have[column] != kind:
            columns.append(f"CAST({quoted} AS {kind}) AS {quoted}")
        else:
            columns.append(quoted)
    columns += ["file_index AS seg", "file_row_number AS pos"]
    return (
        f"(SELECT {', '.join(columns)} FROM read_parquet({_listed(files)}, union_by_name=true, "
        "file_row_number=true))"
    )


def read_rows_duckdb(
    spec: ExperimentSpec,
    log_dir: str,
    start: datetime | None,
    end: datetime | None,
    experiment: str | None = None,
) -> Rows:
    import duckdb
    import numpy as np

    from shipyard.experiments.data import QUALITY, Rows

    names = {m.name for m in spec.metrics}
    sources = [(spec.deployment, "control" if spec.challenger_version is None else None)]
    if spec.challenger_version is None:
        sources.append((spec.challenger, "challenger"))
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")  # labels: the last given is the newest
        logs, label_files = [], []
        for deployment, arm in sources:
            files = _files(log_dir, deployment, start, end)
            if files:
                logs.append((files, arm))
            label_files += _label_files(log_dir, deployment)
        if not logs:
            return Rows(np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, bool))
        labels = _read_labels(con, label_files) if names & set(QUALITY) and label_files else None
        outcomes = any(name.startswith(OUTCOME_PREFIX) for name in names)
        kinds = [_types(con, files) for files, _ in logs]
        want = wants(spec, labels, kinds)
        where = [f"t >= {int(start.timestamp() * 1e6)}"] if start is not None else []
        where += [f"t < {int(end.timestamp() * 1e6)}"] if end is not None else []
        parts = [
            _arrays(
                con,
                f"SELECT * FROM ({_log_select(files, kind, spec, arm, want, experiment)}) "
                + ("WHERE " + " AND ".join(where) if where else ""),
            )
            for (files, arm), kind in zip(logs, kinds, strict=True)
        ]
        log = _concat(parts)
        rows = metric_rows(con, spec, log, labels, _outcome_files(log_dir) if outcomes else [])
    finally:
        con.close()
    return rows


def wants(spec: ExperimentSpec, labels: _Labels | None, kinds: list[dict[str, str]]) -> set[str]:
    """The columns :func:`_log_select` must read for these labels and the spec's outcomes."""
    names = {m.name for m in spec.metrics}
    want: set[str] = set()
    if labels is not None:
        want |= {"keys", "prediction"} | ({"own"} if labels.own.any() else set())
        want |= {"text"} if labels.text is not None else set()
    if any(name.startswith(OUTCOME_PREFIX) for name in names):
        want.add("keys")
    if "prediction" in want and not all(_numeric(k.get("prediction")) for k in kinds):
        want.add("text")
    return want


def metric_rows(  # noqa: PLR0917
    con: Any,
    spec: ExperimentSpec,
    log: dict[str, Any],
    labels: _Labels | None,
    outcome_files: list[str],
    shared: dict[str, Any] | None = None,
) -> Rows:
    """The :class:`Rows` of log columns read by :func:`_log_select`: the newest label per row
    joined, the outcomes summed per request (over ``outcome_files``), one value per metric.
    ``shared``: kept between the calls for the parts of one log (the outcomes summed once)."""
    import numpy as np

    from shipyard.experiments.data import QUALITY, Rows

    names = {m.name for m in spec.metrics}
    rows = Rows(log["t"].astype(np.int64, copy=False), log["arm"].astype(np.int8, copy=False), log["first"])
    if spec.sticky_key and "unit" in log:
        rows.units = log["unit"].astype(np.int64, copy=False)
    failed = log["failed"]
    if "latency_ms" in names:
        rows.values["latency_ms"] = np.where(rows.first & ~failed, log["latency_ms"], np.nan)
    if "error_rate" in names:
        rows.values["error_rate"] = np.where(rows.first, failed.astype(np.float64), np.nan)
    quality = sorted(names & set(QUALITY))
    if quality:
        values = _quality(quality, log, labels, failed) if labels is not None else {}
        for name in quality:
            rows.values[name] = values[name] if name in values else np.full(len(rows), np.nan)
    for name in sorted(n for n in names if n.startswith(OUTCOME_PREFIX)):
        value = _outcome(con, outcome_files, name[len(OUTCOME_PREFIX) :], log, shared)
        rows.values[name] = np.where(rows.first & ~failed, value, np.nan)
    return rows


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {}
    for name in parts[0]:
        if any(name not in p for p in parts):
            continue
        columns = [p[name] for p in parts]
        out[name] = (
            pa.chunked_array([c for col in columns for c in col.chunks])
            if isinstance(columns[0], pa.ChunkedArray)
            else np.concatenate(columns)
        )
    return out


def _newest_label(log: dict[str, Any], labels: _Labels) -> Any:
    """Per log row, the index of its newest label (-1: none): its own row's or its request's."""
    import numpy as np

    from shipyard.experiments.keyjoin import newest

    prepared = labels.prepared is not None
    sides = labels.prepared if labels.prepared is not None else _sides(labels, prepare=False)

    def find(which: str, h1: Any, h2: Any) -> Any:
        side = sides[which][0]
        return side.newest(h1, h2) if prepared else newest(side[0], side[1], h1, h2)

    w = find("whole", log["h1"], log["h2"])
    if "own" not in sides:  # no label names a single row
        return w
    o = find("own", log["o1"], log["o2"])
    whole_at, own_at = sides["whole"][1], sides["own"][1]
    # (no whole-request labels at all: every w is -1, and whole_at has nothing to index)
    w = np.where(w >= 0, whole_at[np.maximum(w, 0)], -1) if len(whole_at) else w
    o = np.where(o >= 0, own_at[np.maximum(o, 0)], -1)
    return np.where(o > w, o, w)  # indices are in given order: the larger is the newer


def _sides(labels: _Labels, *, prepare: bool) -> dict[str, Any]:
    """The labels of whole requests and those of single rows, each with where they sit among
    all labels; ``prepare``: each side as a :class:`shipyard.experiments.keyjoin.Index` (sorted
    once, for a log joined part by part), else its two hash arrays."""
    import numpy as np

    from shipyard.experiments.keyjoin import Index

    def side(at: Any) -> Any:
        h1, h2 = (labels.h1, labels.h2) if at is None else (labels.h1[at], labels.h2[at])
        return Index(h1, h2) if prepare else (h1, h2)

    if not labels.own.any():
        return {"whole": (side(None), None)}
    whole_at, own_at = np.flatnonzero(~labels.own), np.flatnonzero(labels.own)
    return {"whole": (side(whole_at), whole_at), "own": (side(own_at), own_at)}


def prepare(labels: _Labels) -> None:
    """Sort the labels' side of the join once: the log will be joined to them part by part."""
    labels.prepared = _sides(labels, prepare=True)


def _quality(names: list[str], log: dict[str, Any], labels: _Labels, failed: Any) -> dict[str, Floats]:
    """The quality metrics per row (NaN: failed, or no label), as the query before computed them:
    numbers compared as numbers, otherwise as text. In chunks: few large temporaries."""
    import numpy as np

    from shipyard.experiments.keyjoin import CHUNK

    j = _newest_label(log, labels)
    log["label_at"] = j  # each row's newest label (-1: none), for the caller
    n = len(j)
    out = {name: np.empty(n) for name in names}
    text = labels.text is not None or "ptext" in log
    todo = np.zeros(n, dtype=bool) if text and "accuracy" in names else None
    for a in range(0, n, CHUNK):
        b = min(a + CHUNK, n)
        jj = j[a:b]
        got = jj >= 0
        jj = np.where(got, jj, 0)
        present = got & ~labels.null[jj] & ~failed[a:b]
        y = np.where(present, labels.y[jj], np.nan)
        pred = log["pred"][a:b]
        for name in names:
            if name == "accuracy":
                both = ~np.isnan(pred) & ~np.isnan(y)
                same = np.where(both, (pred == y).astype(np.float64), np.nan)
                if todo is not None:
                    todo[a:b] = present & ~both & ~log["pnull"][a:b]
                out[name][a:b] = np.where(present, same, np.nan)
            elif name == "log_loss":
                p = np.clip(log["p1"][a:b], 1e-15, 1 - 1e-15)
                out[name][a:b] = -(y * np.log(p) + (1 - y) * np.log(1 - p))
            else:
                err = pred - y
                out[name][a:b] = err * err if name == "squared_error" else np.abs(err)
    if todo is not None:
        out["accuracy"] = _text_same(log, labels, j, todo, out["accuracy"])
    return out


def _text_same(log: dict[str, Any], labels: _Labels, j: Any, todo: Any, same: Floats) -> Floats:
    """``same`` where a prediction or its label is not a number: compared as text (labels'
    distinct values are a dictionary both sides are coded in)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not todo.any():
        return same
    at = np.flatnonzero(todo)
    label_text = labels.text if labels.text is not None else pa.array(labels.y).cast(pa.string())
    label_text = pc.take(label_text, pa.array(j[at]))
    pred_text = log.get("ptext")
    if pred_text is None:
        pred_text = pa.array(log["pred"]).cast(pa.string())
    pred_text = pc.take(pred_text, pa.array(at))
    equal = np.asarray(pc.fill_null(pc.equal(pred_text, label_text), False), dtype=np.float64)
    valid = np.asarray(pc.and_(pc.is_valid(pred_text), pc.is_valid(label_text)), dtype=bool)
    same[at] = np.where(valid, equal, np.nan)
    return same


def _outcome_files(log_dir: str) -> list[str]:
    from shipyard.experiments.outcomes import OUTCOMES_DIR

    folder = Path(log_dir) / OUTCOMES_DIR
    return (
        sorted(str(p) for p in folder.glob("*.parquet") if not p.name.startswith("."))
        if folder.is_dir()
        else []
    )


def prepare_outcomes(con: Any, spec: ExperimentSpec, files: list[str], shared: dict[str, Any]) -> None:
    """The outcomes summed per request, and their join's side sorted, into ``shared`` before the
    log's parts are joined (on several threads, which do not query)."""
    from shipyard.experiments.keyjoin import Index

    if not files:
        return
    for name in sorted(m.name for m in spec.metrics if m.name.startswith(OUTCOME_PREFIX)):
        summed = _summed(con, files, name[len(OUTCOME_PREFIX) :])
        shared[name] = (summed, Index(summed["h1"], summed["h2"]))


def _summed(con: Any, files: list[str], outcome: str) -> dict[str, Any]:
    quoted = outcome.replace("'", "''")
    return _arrays(
        con,
        f"SELECT {_H1} AS h1, {_H2} AS h2, sum(value) AS value FROM read_parquet({_listed(files)}) "
        f"WHERE name = '{quoted}' GROUP BY request_id",
    )


def _outcome(
    con: Any, files: list[str], outcome: str, log: dict[str, Any], shared: dict[str, Any] | None = None
) -> Floats:
    """Per log row, the sum of outcome ``outcome`` logged for its request in ``files`` (0 when
    none was; ``shared``: the sums and their join's side, from :func:`prepare_outcomes`)."""
    import numpy as np

    from shipyard.experiments.keyjoin import newest

    n = len(log["t"])
    if not files:
        return np.zeros(n)
    summed, index = (shared or {}).get(OUTCOME_PREFIX + outcome, (None, None))
    if summed is None:
        summed = _summed(con, files, outcome)
    j = (
        newest(summed["h1"], summed["h2"], log["h1"], log["h2"])
        if index is None
        else index.newest(log["h1"], log["h2"])
    )
    return np.where(
        j >= 0, summed["value"][np.maximum(j, 0)] if len(j) and len(summed["value"]) else 0.0, 0.0
    )
