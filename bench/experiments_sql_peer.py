"""The peer of ``bench/experiments.py`` part 3: the experiment reader as it was before the numpy
join (commit 0e937ba's ``shipyard.experiments.duck``): one DuckDB SQL query that reads the log,
keeps the newest label per (request id, row) with ``arg_max`` over a ``GROUP BY``, joins it with
string-keyed hash joins, and computes the metric columns. Kept here only to be timed beside the
current reader on the same data in the same run.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.experiments.config import OUTCOME_PREFIX, ExperimentSpec

if TYPE_CHECKING:
    from shipyard.experiments.data import Rows


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


def _log_select(con: Any, files: list[str], spec: ExperimentSpec, arm: str | None, names: set[str]) -> str:
    """One SELECT over a deployment's segments (``arm``: a fixed arm for a challenger deployment)."""
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    columns = set(con.sql(f"SELECT * FROM read_parquet([{listed}], union_by_name=true) LIMIT 0").columns)
    if arm is not None:
        arm_sql = "1" if arm == "challenger" else "0"
    elif "arm" in columns:
        arm_sql = "CASE WHEN arm = 'challenger' THEN 1 ELSE 0 END"
    elif spec.challenger_version is not None and "version" in columns:
        arm_sql = f"CASE WHEN version = {int(spec.challenger_version)} THEN 1 ELSE 0 END"
    else:
        arm_sql = "0"
    proba = "proba[2]" if "proba" in columns and "log_loss" in names else "NULL::DOUBLE"
    key = spec.sticky_key
    unit = (
        f'CAST(hash(CAST("{key}" AS VARCHAR)) % 9223372036854775807 AS BIGINT)'
        if key and key in columns and '"' not in key
        else "NULL::BIGINT"
    )
    return (
        f'SELECT request_id, "row", epoch_us(ts) AS t, {arm_sql} AS arm, role, latency_ms, '
        f"prediction, {proba} AS p1, {unit} AS unit "
        f"FROM read_parquet([{listed}], union_by_name=true) WHERE role IN ('primary', 'error')"
    )


def read_rows_duckdb(
    spec: ExperimentSpec, log_dir: str, start: datetime | None, end: datetime | None
) -> Rows:
    import duckdb
    import numpy as np

    from shipyard.experiments.data import QUALITY, Rows
    from shipyard.experiments.outcomes import OUTCOMES_DIR

    names = {m.name for m in spec.metrics}
    con = duckdb.connect()
    try:
        parts = []
        sources = [(spec.deployment, "control" if spec.challenger_version is None else None)]
        if spec.challenger_version is None:
            sources.append((spec.challenger, "challenger"))
        label_files: list[str] = []
        for deployment, arm in sources:
            files = _files(log_dir, deployment, start, end)
            if files:
                parts.append(_log_select(con, files, spec, arm, names))
            label_files += _label_files(log_dir, deployment)
        if not parts:
            return Rows(np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, bool))
        where = []
        if start is not None:
            where.append(f"t >= {int(start.timestamp() * 1e6)}")
        if end is not None:
            where.append(f"t < {int(end.timestamp() * 1e6)}")
        log_sql = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
        ctes = [f"log AS (SELECT * FROM ({log_sql}) {'WHERE ' + ' AND '.join(where) if where else ''})"]
        select = ["log.t", "log.arm", 'log."row" = 0 AS first', "log.role = 'error' AS failed", "log.unit"]
        joins = []
        if names & {"latency_ms"}:
            select.append("log.latency_ms")
        if names & set(QUALITY) and label_files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in label_files)
            # labels are written one instant per file, files named by that instant: the order is
            # (file, position); kinds present decide the joins (usually whole-request labels only)
            order = f"list_position([{listed}], filename)::BIGINT * 4294967296 + file_row_number"
            ctes.append(
                f'newest AS (SELECT request_id, "row", arg_max(label, {order}) AS label, max({order}) AS seq '
                f"FROM read_parquet([{listed}], filename=true, file_row_number=true, union_by_name=true) "
                "GROUP BY ALL)"
            )
            kinds = con.sql(
                'SELECT bool_or("row" < 0), bool_or("row" >= 0) '
                f"FROM read_parquet([{listed}], union_by_name=true)"
            ).fetchall()
            whole, own = bool(kinds and kinds[0][0]), bool(kinds and kinds[0][1])
            if whole:
                ctes.append('whole AS (SELECT request_id, label, seq FROM newest WHERE "row" < 0)')
                joins.append("LEFT JOIN whole w ON w.request_id = log.request_id")
            if own:
                ctes.append('own AS (SELECT request_id, "row", label, seq FROM newest WHERE "row" >= 0)')
                joins.append('LEFT JOIN own r ON r.request_id = log.request_id AND r."row" = log."row"')
            if whole and own:
                newer = "r.seq IS NOT NULL AND (w.seq IS NULL OR r.seq > w.seq)"
                label = f"CASE WHEN {newer} THEN r.label ELSE w.label END"
            else:
                label = "w.label" if whole else "r.label"
            select.append(f"({label}) AS label")
            select += ["log.prediction", "log.p1"]
        for name in sorted(names):
            if name.startswith(OUTCOME_PREFIX):
                folder = Path(log_dir) / OUTCOMES_DIR
                files = (
                    sorted(str(p) for p in folder.glob("*.parquet") if not p.name.startswith("."))
                    if folder.is_dir()
                    else []
                )
                alias = f"o{len(joins)}"
                if files:
                    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                    outcome = name[len(OUTCOME_PREFIX) :].replace("'", "''")
                    ctes.append(
                        f"{alias} AS (SELECT request_id, sum(value) AS value FROM read_parquet([{listed}]) "
                        f"WHERE name = '{outcome}' GROUP BY request_id)"
                    )
                    joins.append(f"LEFT JOIN {alias} ON {alias}.request_id = log.request_id")
                    select.append(f'coalesce({alias}.value, 0.0) AS "{name}"')
                else:
                    select.append(f'0.0 AS "{name}"')
        sql = (
            "WITH "
            + ", ".join(c for c in ctes if c)
            + f" SELECT {', '.join(select)} FROM log "
            + " ".join(joins)
        )
        if "label" in " ".join(select):
            sql = f"SELECT * EXCLUDE (label, prediction, p1), {_quality_sql(names)} FROM ({sql})"
        table: Any = con.sql(sql).to_arrow_table()  # only numbers and flags come back
    finally:
        con.close()
    return _rows({name: table[name] for name in table.column_names}, spec)


def _quality_sql(names: set[str]) -> str:
    """The quality metrics asked for, per row, from ``prediction``, ``label`` and ``p1``."""
    same = (
        "coalesce(TRY_CAST(prediction AS DOUBLE) = TRY_CAST(label AS DOUBLE), "
        "CAST(prediction AS VARCHAR) = CAST(label AS VARCHAR))"
    )
    y = "TRY_CAST(label AS DOUBLE)"
    err = f"(TRY_CAST(prediction AS DOUBLE) - {y})"
    p = "greatest(least(p1, 1 - 1e-15), 1e-15)"
    exprs = {
        "accuracy": f"CASE WHEN label IS NULL THEN NULL ELSE CAST({same} AS DOUBLE) END",
        "log_loss": f"-({y} * ln({p}) + (1 - {y}) * ln(1 - {p}))",
        "squared_error": f"{err} * {err}",
        "absolute_error": f"abs({err})",
    }
    return ", ".join(f"{expr} AS {name}" for name, expr in exprs.items() if name in names)


def _rows(data: dict[str, Any], spec: ExperimentSpec) -> Rows:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from shipyard.experiments.data import QUALITY, Rows

    def floats(name: str) -> Any:  # NULL -> NaN
        return np.asarray(pc.fill_null(data[name].cast(pa.float64()), np.nan), dtype=np.float64)

    def flags(name: str) -> Any:
        return np.asarray(pc.fill_null(data[name], False), dtype=bool)

    failed = flags("failed")
    rows = Rows(
        np.asarray(pc.fill_null(data["t"], 0), dtype=np.int64),
        np.asarray(pc.fill_null(data["arm"], 0), dtype=np.int8),
        flags("first"),
    )
    units = data.get("unit")
    if units is not None and spec.sticky_key and units.null_count < len(units):
        rows.units = np.asarray(pc.fill_null(units, -1), dtype=np.int64)
    for metric in spec.metrics:
        name = metric.name
        if name == "latency_ms":
            rows.values[name] = np.where(rows.first & ~failed, floats(name), np.nan)
        elif name == "error_rate":
            rows.values[name] = np.where(rows.first, failed.astype(np.float64), np.nan)
        elif name in QUALITY:
            rows.values[name] = (
                np.where(failed, np.nan, floats(name)) if name in data else np.full(len(rows), np.nan)
            )
        elif name.startswith(OUTCOME_PREFIX):
            rows.values[name] = np.where(rows.first & ~failed, floats(name), np.nan)
    return rows
