"""Params (write-once), metrics (history + latest value) and tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from shipyard.core.entities import Metric
from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.core.names import validate_key
from shipyard.metadata.base import MetricPage
from shipyard.metadata.sql import codec, metric_chunks
from shipyard.metadata.sql.dialect import insert_for
from shipyard.metadata.sql.runs import require_run
from shipyard.metadata.sql.schema import params, tags

_FLOAT = frozenset((float,))
_INT = frozenset((int,))


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def log_params(conn: Connection, run_id: str, values: dict[str, Any]) -> None:
    require_run(conn, run_id)
    rows = {key: codec.param_row(run_id, key, value) for key, value in values.items()}
    if not rows:
        return

    def check() -> dict[str, dict[str, Any]]:
        query = select(params.c.key, params.c.value).where(params.c.run_id == run_id, params.c.key.in_(rows))
        existing: dict[str, str] = {key: value for key, value in conn.execute(query)}
        clashes = [k for k, v in existing.items() if v != rows[k]["value"]]
        if clashes:
            detail = "; ".join(
                f"{k!r} is {_short(existing[k])}, not {_short(rows[k]['value'])}" for k in sorted(clashes)
            )
            raise ConflictError(
                f"params are write-once and run {run_id!r} already has different values: {detail}. "
                "Nothing from this batch was logged; use a new param name or a new run"
            )
        return {k: r for k, r in rows.items() if k not in existing}

    new = check()
    if not new:
        return
    ordered = [new[k] for k in sorted(new)]  # one lock order for concurrent writers
    result = conn.execute(insert_for(conn, params).on_conflict_do_nothing(), ordered)
    if result.rowcount != len(new):  # another writer got there first: same values are fine
        check()


def log_metrics(conn: Connection, run_id: str, points: Sequence[Metric]) -> None:
    require_run(conn, run_id)
    if not points:
        return
    metric_chunks.write_batch(conn, run_id, codec.metric_columns(points))


def log_metric_columns(  # noqa: PLR0917 - the columns of one batch
    conn: Connection, run_id: str, keys: list[str], values: list[float], steps: list[int], stamps: list[int]
) -> None:
    """Points as parallel columns; checked as :func:`codec.metric_columns` checks points."""
    require_run(conn, run_id)
    for key in set(keys):
        validate_key("metric", key)
    if not (len(keys) == len(values) == len(steps) == len(stamps)):
        raise InvalidInputError("metric columns must have equal lengths")
    if not values:
        return
    # the types present, by C loops (map/set): a per-point generator costs more than the write
    if not (set(map(type, values)) <= _FLOAT and set(map(type, steps)) | set(map(type, stamps)) <= _INT):
        try:
            values = [float(v) for v in values]
            steps, stamps = [int(s) for s in steps], [int(t) for t in stamps]
        except (TypeError, ValueError, OverflowError):
            raise InvalidInputError("metric values must be numbers and steps/timestamps integers") from None
    metric_chunks.write_batch(conn, run_id, codec.MetricColumns(keys, values, steps, stamps))


def get_metric_history(conn: Connection, run_id: str, key: str) -> list[Metric]:
    require_run(conn, run_id)
    return metric_chunks.read_series(conn, run_id, key)


def get_metric_history_page(
    conn: Connection, run_id: str, key: str, limit: int, token: str | None
) -> MetricPage:
    metric_chunks.check_limit(limit)
    require_run(conn, run_id)
    return metric_chunks.read_page(conn, run_id, key, limit, token)


def set_tags(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    require_run(conn, run_id)
    rows = [
        {"run_id": run_id, "key": validate_key("tag", k), "value": str(v)} for k, v in sorted(values.items())
    ]
    if not rows:
        return
    stmt = insert_for(conn, tags)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[tags.c.run_id, tags.c.key], set_={"value": stmt.excluded.value}
        ),
        rows,
    )


def delete_tag(conn: Connection, run_id: str, key: str) -> None:
    result = conn.execute(delete(tags).where(tags.c.run_id == run_id, tags.c.key == key))
    if result.rowcount == 0:
        require_run(conn, run_id)
        raise NotFoundError(f"run {run_id!r} has no tag {key!r}")
