"""Reading the prediction log and writing late labels next to it.

The prediction log is written by :mod:`shipyard.serving.predlog` (its docstring has the schema);
monitoring sits below serving, so it reads the same layout here, one column set at a time::

    <log_dir>/<deployment>/<YYYY-MM-DD>/<HHMMSS>-<pid>-<seq>.parquet      predictions
    <log_dir>/<deployment>/_labels/<YYYYmmddTHHMMSSffffff>-<written ns>-<pid>-<random>.parquet   labels

A label segment has ``request_id``, ``row`` (``-1``: every row of the request), ``label`` and
``labelled_at``. Labels are joined to predictions by request id (and row); the newest label wins,
whether it names the row or the whole request: a whole-request label given after a row's own label
replaces it, and a row's label given after a whole-request label overrides it for that row.
Labels given for the same instant keep the order they were written in (file name, then position).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.monitoring.windows import Window, as_utc

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

FIXED = ("request_id", "ts", "deployment", "model", "version", "role", "latency_ms", "row")
LABELS_DIR = "_labels"


def default_log_dir(home: Path | None = None) -> str:
    """The prediction log under ``home`` (default: this process's ``$SHIPYARD_HOME``)."""
    if home is None:
        from shipyard.core.settings import load_settings

        home = load_settings().home
    return str(home / "predictions")


def deployment_dir(log_dir: str, deployment: str) -> Path:
    """``<log_dir>/<deployment>``; the deployment must be a flat name (no '/', '..', absolute path),
    so no caller's string can point a reader or writer outside ``log_dir``."""
    from shipyard.core.names import validate_name

    return Path(log_dir) / validate_name("deployment", deployment)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".parquet" and not p.name.startswith("."))


def log_days(log_dir: str, deployment: str) -> list[Path]:
    base = deployment_dir(log_dir, deployment)
    if not base.is_dir():
        return []
    out = []
    for day in sorted(base.iterdir()):
        try:
            date.fromisoformat(day.name)
        except ValueError:
            continue
        out.append(day)
    return out


def read_log(
    log_dir: str,
    deployment: str,
    window: Window | None = None,
    *,
    columns: Sequence[str] | None = None,
    role: str | None = "primary",
) -> pa.Table:
    """The logged rows of ``deployment`` in ``window`` (oldest first), only ``columns`` (plus
    ``ts``/``role``); an empty table when nothing was logged."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    window = window or Window()
    start = as_utc(window.start) if window.start else None
    end = as_utc(window.end) if window.end else None
    files: list[Path] = []
    for day in log_days(log_dir, deployment):
        d = date.fromisoformat(day.name)
        if (start is not None and d < start.date()) or (end is not None and d > end.date()):
            continue
        files.extend(_files(day))
    if not files:
        return pa.table({})
    tables = []
    for path in files:
        names = pq.read_schema(path).names
        wanted = (
            None
            if columns is None
            else [c for c in {*columns, "ts", "role", "request_id", "row"} if c in names]
        )
        tables.append(pq.read_table(path, columns=wanted))
    table = pa.concat_tables(tables, promote_options="default")
    ts_type = pa.timestamp("us", tz="UTC")
    mask = None
    if start is not None:
        mask = pc.greater_equal(table["ts"], pa.scalar(start, ts_type))
    if end is not None:
        upper = pc.less(table["ts"], pa.scalar(end, ts_type))
        mask = upper if mask is None else pc.and_(mask, upper)
    if role is not None and "role" in table.column_names:
        is_role = pc.equal(table["role"], role)
        mask = is_role if mask is None else pc.and_(mask, is_role)
    if mask is not None:
        table = table.filter(mask)
    table = table.sort_by([("ts", "ascending"), ("request_id", "ascending"), ("row", "ascending")])
    if window.last is not None and table.num_rows > window.last:
        table = table.slice(table.num_rows - window.last)
    return table


@dataclass
class LabelResult:
    received: int
    matched: int
    unknown: int
    unknown_ids: list[str] = field(default_factory=list)  # the first few, for the message

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "matched": self.matched,
            "unknown": self.unknown,
            "unknown_ids": self.unknown_ids,
        }


def log_labels(
    request_ids: Sequence[str],
    labels: Sequence[Any],
    *,
    deployment: str,
    log_dir: str | None = None,
    rows: Sequence[int] | None = None,
    at: datetime | None = None,
) -> LabelResult:
    """Record ground truth for logged predictions (labels may arrive days later).

    ``request_ids[i]`` gets ``labels[i]`` (for its row ``rows[i]``, default every row). Ids not in
    the prediction log are counted in ``unknown`` and not stored; nothing raises for them.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if len(request_ids) != len(labels) or (rows is not None and len(rows) != len(labels)):
        raise InvalidInputError(
            f"request_ids ({len(request_ids)}), labels ({len(labels)}) and rows must have the same length"
        )
    log_dir = log_dir or default_log_dir()
    ids = np.asarray([str(r) for r in request_ids], dtype=object)
    known = read_log(log_dir, deployment, columns=["request_id"], role=None)
    if known.num_rows:
        ok = pc.is_in(pa.array(ids.tolist(), pa.string()), value_set=known["request_id"].combine_chunks())
        ok = ok.to_numpy(zero_copy_only=False).astype(bool)
    else:
        ok = np.zeros(len(ids), dtype=bool)
    unknown = [str(r) for r in ids[~ok][:10]]
    result = LabelResult(len(ids), int(ok.sum()), int((~ok).sum()), unknown)
    if not ok.any():
        return result
    when = as_utc(at) if at else datetime.now(UTC)
    values = np.asarray(labels, dtype=object)[ok].tolist()
    table = pa.table(
        {
            "request_id": pa.array(ids[ok].tolist(), pa.string()),
            "row": pa.array(
                np.asarray(rows)[ok] if rows is not None else np.full(int(ok.sum()), -1), pa.int32()
            ),
            "label": pa.array(values),
            "labelled_at": pa.array([when] * len(values), pa.timestamp("us", tz="UTC")),
        }
    )
    folder = deployment_dir(log_dir, deployment) / LABELS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # labels given for the same instant sort in the order they were written (then by process)
    name = f"{when:%Y%m%dT%H%M%S%f}-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
    tmp = folder / f".{name}.tmp"
    pq.write_table(table, tmp)
    tmp.replace(folder / name)
    return result


def read_labels(log_dir: str, deployment: str) -> pd.DataFrame:
    """All labels of ``deployment``, the newest per (request id, row), with ``seq``: the order in
    which they were given (``labelled_at``, then file, then position), for :func:`join_labels`."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = _files(deployment_dir(log_dir, deployment) / LABELS_DIR)
    if not files:
        return pd.DataFrame({"request_id": [], "row": [], "label": [], "labelled_at": [], "seq": []})
    frame = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default").to_pandas()
    frame = frame.sort_values("labelled_at", kind="stable")  # files are in name (= time) order
    frame["seq"] = np.arange(len(frame), dtype=np.int64)
    latest: pd.DataFrame = frame.drop_duplicates(["request_id", "row"], keep="last")
    return latest


def join_labels(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with a ``label`` column (NaN/None where no label arrived): per row, the newer
    of the row's own label and its request's whole-request label (``seq``, else ``labelled_at``)."""
    order = "seq" if "seq" in labels.columns else "labelled_at"
    by_row = labels[labels["row"] >= 0]
    whole = labels[labels["row"] < 0][["request_id", "label", order]].rename(columns={order: "_whole_at"})
    out = predictions.merge(whole, on="request_id", how="left")
    if len(by_row):
        exact = by_row[["request_id", "row", "label", order]].rename(
            columns={"label": "_row_label", order: "_row_at"}
        )
        out = out.merge(exact, on=["request_id", "row"], how="left")
        newer = out["_row_at"].notna() & (out["_whole_at"].isna() | (out["_row_at"] > out["_whole_at"]))
        out["label"] = out["_row_label"].where(newer, out["label"])
        out = out.drop(columns=["_row_label", "_row_at"])
    return out.drop(columns=["_whole_at"])
