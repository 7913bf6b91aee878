"""The rows an experiment is decided on, from the prediction log, its late labels and the logged
outcomes: per row its time (µs since the epoch), its arm and one value per metric (NaN where the
metric has no value yet, e.g. a label that has not arrived). :func:`read_rows` (what ``shipyard
experiment status`` uses) reads them with :mod:`.duck`; :func:`rows_from_table` is the
straightforward Arrow version over a table already in memory (the replay benchmark and the tests
that check the fast reader against it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.experiments.config import OUTCOME_PREFIX, ExperimentSpec

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

QUALITY = ("accuracy", "log_loss", "squared_error", "absolute_error")
_COLUMNS = ["prediction", "proba", "version", "arm", "latency_ms", "model"]


@dataclass
class Rows:
    """Parallel arrays, one entry per logged row (requests: ``first`` marks a request's row 0)."""

    ts_us: npt.NDArray[np.int64]
    arm: npt.NDArray[np.int8]
    first: npt.NDArray[np.bool_]
    values: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    units: npt.NDArray[np.int64] | None = None  # the assignment key per row (an id; -1: none), when logged

    def __len__(self) -> int:
        return len(self.ts_us)


def arms_of(table: pa.Table, spec: ExperimentSpec) -> npt.NDArray[np.int8]:
    """1 for the challenger's rows: the logged ``arm`` when there is one, else its version."""
    import numpy as np
    import pyarrow.compute as pc

    version = spec.challenger_version
    if version is None or "version" not in table.column_names:
        by_version = np.zeros(table.num_rows, dtype=np.int8)
    else:
        by_version = np.asarray(pc.fill_null(pc.equal(table["version"], version), False), dtype=np.int8)
    if "arm" in table.column_names:
        logged = np.asarray(pc.fill_null(pc.equal(table["arm"], "challenger"), False), dtype=np.int8)
        return np.where(np.asarray(pc.is_null(table["arm"]), dtype=bool), by_version, logged).astype(np.int8)
    return by_version


def rows_from_table(
    table: pa.Table, spec: ExperimentSpec, labels: pa.Table | None, outcomes: dict[str, pa.Table]
) -> Rows:
    """The metric arrays of a prediction-log table (``role`` primary or error rows), with
    ``labels`` (``request_id``, ``row``, ``label``: one per row; row -1 for a whole request) and
    ``outcomes`` (name -> ``request_id``, ``value``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    ts = np.asarray(table["ts"].cast(pa.int64()), dtype=np.int64) if n else np.zeros(0, np.int64)
    rows = Rows(ts, arms_of(table, spec) if n else np.zeros(0, np.int8), np.ones(n, dtype=bool))
    if "row" in table.column_names and n:
        rows.first = np.asarray(pc.equal(table["row"], 0), dtype=bool)
    key = spec.sticky_key
    if key is not None and key in table.column_names and n:
        codes = pc.dictionary_encode(table[key].cast(pa.string()).combine_chunks()).indices
        rows.units = np.asarray(pc.fill_null(codes.cast(pa.int64()), -1), dtype=np.int64)
    failed = (
        np.asarray(pc.fill_null(pc.equal(table["role"], "error"), False), dtype=bool)
        if "role" in table.column_names and n
        else np.zeros(n, dtype=bool)
    )
    names = [m.name for m in spec.metrics]
    nan = np.full(n, np.nan)
    if "latency_ms" in names:
        lat = np.asarray(table["latency_ms"].to_numpy(zero_copy_only=False), dtype=np.float64) if n else nan
        rows.values["latency_ms"] = np.where(rows.first & ~failed, lat, np.nan)
    if "error_rate" in names:
        rows.values["error_rate"] = np.where(rows.first, failed.astype(np.float64), np.nan)
    if any(name in QUALITY for name in names):
        label = _labels_for(table, labels) if labels is not None and n else None
        for name in names:
            if name in QUALITY:
                rows.values[name] = (
                    nan if label is None else np.where(failed, np.nan, _quality(name, table, label))
                )
    for name in names:
        if name.startswith(OUTCOME_PREFIX) and n:
            found = outcomes.get(name[len(OUTCOME_PREFIX) :])
            value = np.zeros(n)
            if found is not None and found.num_rows:
                idx = pc.index_in(table["request_id"], value_set=found["request_id"])
                got = np.asarray(
                    pc.fill_null(pc.take(found["value"], pc.fill_null(idx, 0)), 0.0), dtype=np.float64
                )
                value = np.where(np.asarray(pc.is_valid(idx), dtype=bool), got, 0.0)
            rows.values[name] = np.where(rows.first & ~failed, value, np.nan)
    return rows


def _labels_for(table: pa.Table, labels: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Per row of ``table``: its newest label (by ``seq``: the row's own, or its request's)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    labels = labels.set_column(0, "request_id", labels["request_id"].cast(pa.string()))
    labels = labels.set_column(1, "row", labels["row"].cast(pa.int64()))
    keyed = pa.table(
        {
            "request_id": table["request_id"].cast(pa.string()),
            "row": table["row"].cast(pa.int64()),
            "_i": pa.array(np.arange(table.num_rows)),
        }
    )
    whole = labels.filter(pc.less(labels["row"], 0)).select(["request_id", "label", "seq"])
    whole = whole.rename_columns(["request_id", "_whole", "_whole_seq"])
    own = labels.filter(pc.greater_equal(labels["row"], 0)).select(["request_id", "row", "label", "seq"])
    own = own.rename_columns(["request_id", "row", "_own", "_own_seq"])
    joined = keyed.join(whole, "request_id", join_type="left outer")
    joined = joined.join(own, ["request_id", "row"], join_type="left outer").sort_by("_i")
    # Kleene logic: a row with only its own label has no whole seq (null), and "no whole label or
    # an older one" must still be true there (plain or_ would make it null, then false)
    use_own = pc.fill_null(
        pc.and_kleene(
            pc.is_valid(joined["_own_seq"]),
            pc.or_kleene(
                pc.is_null(joined["_whole_seq"]), pc.greater(joined["_own_seq"], joined["_whole_seq"])
            ),
        ),
        False,
    )
    if joined["_own"].type != joined["_whole"].type:
        return pc.if_else(use_own, joined["_own"].cast(pa.string()), joined["_whole"].cast(pa.string()))
    return pc.if_else(use_own, joined["_own"], joined["_whole"])


def _quality(name: str, table: pa.Table, label: Any) -> npt.NDArray[np.float64]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    present = np.asarray(pc.is_valid(label), dtype=bool)
    if name == "accuracy":
        pred = table["prediction"]
        if pred.type != label.type:
            pred, label = pred.cast(pa.string()), label.cast(pa.string())
        same = np.asarray(pc.fill_null(pc.equal(pred, label), False), dtype=np.float64)
        return np.where(present, same, np.nan)
    if name == "log_loss":
        if "proba" not in table.column_names:
            return np.full(table.num_rows, np.nan)
        p1 = np.asarray(pc.fill_null(pc.list_element(table["proba"], 1), np.nan), dtype=np.float64)
        y = np.asarray(pc.fill_null(label.cast(pa.float64()), np.nan), dtype=np.float64)
        p1 = np.clip(p1, 1e-15, 1 - 1e-15)
        return np.where(present, -(y * np.log(p1) + (1 - y) * np.log(1 - p1)), np.nan)
    err = np.asarray(pc.fill_null(table["prediction"].cast(pa.float64()), np.nan)) - np.asarray(
        pc.fill_null(label.cast(pa.float64()), np.nan)
    )
    out: npt.NDArray[np.float64] = err * err if name == "squared_error" else np.abs(err)
    return out


def read_rows(
    spec: ExperimentSpec, log_dir: str, start: datetime | None, end: datetime | None, name: str | None = None
) -> Rows:
    """The experiment's rows in ``[start, end)`` from the production deployment's log (and a
    challenger deployment's, when the challenger is one): DuckDB scans, numpy joins
    (:mod:`shipyard.experiments.duck`). Each row's arm is the one it was logged with (the agent's
    router tells the services); rows logged without one take their log's (production's:
    control, a challenger deployment's: challenger) or, in production's, their version's. With
    the experiment's ``name``, rows logged under another experiment are left out, and so are a
    challenger deployment's rows logged under none (its own traffic)."""
    from shipyard.experiments.duck import read_rows_duckdb

    return read_rows_duckdb(spec, log_dir, start, end, name)
