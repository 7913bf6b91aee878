"""``search_runs``: compile the filter AST (:mod:`shipyard.metadata.filters`) to SQLAlchemy
expressions with bound parameters, order, paginate, and batch-load the page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
)

from shipyard.core.clock import from_ms
from shipyard.core.entities import RunStatus
from shipyard.core.errors import InvalidInputError
from shipyard.metadata.base import RunPage
from shipyard.metadata.filters import And, Comparison, Field, Node, Or, OrderBy, parse_filter, parse_order_by
from shipyard.metadata.sql.runs import load_runs
from shipyard.metadata.sql.schema import latest_metrics, params, runs, tags

MAX_RESULTS = 10_000
_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "name": runs.c.name,
    "status": runs.c.status,
    "user": runs.c.user,
    "namespace": runs.c.namespace,
    "flow": runs.c.flow_name,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "id": runs.c.id,
}
_NEGATED = {"!=": "=", "NOT IN": "IN", "NOT LIKE": "LIKE", "NOT ILIKE": "ILIKE"}
_TIMES = ("start_time", "end_time")


def _apply(col: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return col == value  # type: ignore[no-any-return]
    if op == "!=":
        return col != value  # type: ignore[no-any-return]
    if op == "<":
        return col < value  # type: ignore[no-any-return]
    if op == "<=":
        return col <= value  # type: ignore[no-any-return]
    if op == ">":
        return col > value  # type: ignore[no-any-return]
    if op == ">=":
        return col >= value  # type: ignore[no-any-return]
    if op == "LIKE":
        return col.like(value)  # type: ignore[no-any-return]
    if op == "ILIKE":
        return col.ilike(value)  # type: ignore[no-any-return]
    if op == "NOT LIKE":
        return col.not_like(value)  # type: ignore[no-any-return]
    if op == "NOT ILIKE":
        return col.not_ilike(value)  # type: ignore[no-any-return]
    if op == "IN":
        return col.in_(list(value))  # type: ignore[no-any-return]
    if op == "NOT IN":
        return col.not_in(list(value))  # type: ignore[no-any-return]
    raise InvalidInputError(f"unsupported operator {op!r}")


def _time_value(field: Field, value: Any) -> datetime:
    if isinstance(value, bool):
        raise InvalidInputError(f"{field} takes an ISO time string or milliseconds since epoch, not {value}")
    if isinstance(value, int | float):
        return from_ms(int(value))
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInputError(
            f"{field} value {value!r} is not a time; use ISO-8601 like '2024-05-01T12:00:00Z' "
            "or milliseconds since epoch"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _attribute(c: Comparison) -> ColumnElement[bool]:
    col = _ATTRIBUTE_COLUMNS[c.field.key]
    value: Any = c.value
    if c.field.key in _TIMES:
        value = (
            tuple(_time_value(c.field, v) for v in value)
            if isinstance(value, tuple)
            else (_time_value(c.field, value))
        )
    elif c.field.key == "status" and "LIKE" not in c.op:
        value = tuple(str(v).lower() for v in value) if isinstance(value, tuple) else str(value).lower()
    return _apply(col, c.op, value)


def _param_condition(op: str, value: Any) -> ColumnElement[bool]:
    values = value if isinstance(value, tuple) else (value,)
    if op in ("IN", "NOT IN"):
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        texts = [_param_text(v) for v in values if not isinstance(v, int | float) or isinstance(v, bool)]
        parts = []
        if numbers:
            parts.append(params.c.value_num.in_(numbers))
        if texts:
            parts.append(params.c.value_text.in_(texts))
        return or_(*parts)
    if isinstance(value, bool):
        if op not in ("=", "!="):
            raise InvalidInputError(f"params compare with true/false only by = or !=, not {op}")
        return _apply(params.c.value_text, op, _param_text(value))
    if isinstance(value, int | float):
        return _apply(params.c.value_num, op, float(value))
    return _apply(params.c.value_text, op, value)


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _keyed(c: Comparison) -> ColumnElement[bool]:
    """metrics/params/tags: EXISTS a row for this run and key whose value satisfies the condition."""
    table: Any
    if c.field.kind == "metric":
        table = latest_metrics
    elif c.field.kind == "param":
        table = params
    else:
        table = tags
    has_key = and_(table.c.run_id == runs.c.id, table.c.key == c.field.key)
    positive = _NEGATED.get(c.op, c.op)
    if c.field.kind == "param":
        cond = _param_condition(positive, c.value)
    else:
        cond = _apply(table.c.value, positive, c.value)
    match = exists(select(1).select_from(table).where(has_key, cond))
    if positive != c.op:  # the run has the key, and no value of it satisfies the positive form
        return and_(exists(select(1).select_from(table).where(has_key)), not_(match))
    return match


def compile_filter(node: Node) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(compile_filter(n) for n in node.items))
    if isinstance(node, Or):
        return or_(*(compile_filter(n) for n in node.items))
    if node.field.kind == "attribute":
        return _attribute(node)
    return _keyed(node)


def _ordering(items: Sequence[OrderBy]) -> tuple[FromClause, list[Any]]:
    from_: FromClause = runs
    clauses: list[Any] = []
    for i, item in enumerate(items):
        f = item.field
        if f.kind == "attribute":
            cols = [_ATTRIBUTE_COLUMNS[f.key]]
        else:
            table = {"metric": latest_metrics, "param": params, "tag": tags}[f.kind].alias(f"order_{i}")
            from_ = from_.outerjoin(table, and_(table.c.run_id == runs.c.id, table.c.key == f.key))
            cols = [table.c.value_num, table.c.value_text] if f.kind == "param" else [table.c.value]
        for col in cols:
            clauses.append(col.is_(None))  # missing values (and NaN) sort last either way
            clauses.append(col.asc() if item.ascending else col.desc())
    clauses += [runs.c.start_time.desc(), runs.c.id.desc()]
    return from_, clauses


def conditions(
    namespaces: Sequence[str] | None,
    filter: str | None,
    flow_name: str | None,
    statuses: Sequence[RunStatus] | None,
    hidden_projects: Sequence[str] = (),
) -> list[ColumnElement[bool]]:
    node = parse_filter(filter) if filter else None  # parse errors before touching the database
    conds: list[ColumnElement[bool]] = []
    for project in hidden_projects:
        namespace = f"project:{project}"
        conds.append(
            ~or_(runs.c.namespace == namespace, runs.c.namespace.startswith(namespace + "/", autoescape=True))
        )
    if namespaces is not None:
        if isinstance(namespaces, str):
            raise InvalidInputError(f"namespaces must be a list of strings, e.g. [{namespaces!r}]")
        conds.append(runs.c.namespace.in_(list(namespaces)) if namespaces else false())
    if flow_name is not None:
        conds.append(runs.c.flow_name == flow_name)
    if statuses is not None:
        conds.append(runs.c.status.in_([RunStatus(s).value for s in statuses]) if statuses else false())
    if node is not None:
        conds.append(compile_filter(node))
    return conds


def search_runs(
    conn: Connection,
    conds: list[ColumnElement[bool]],
    order_by: Sequence[str],
    max_results: int,
    offset: int,
) -> RunPage:
    if not 1 <= max_results <= MAX_RESULTS:
        raise InvalidInputError(f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}")
    if offset < 0:
        raise InvalidInputError(f"offset must be 0 or more, got {offset}")
    from_, orders = _ordering(parse_order_by(order_by))
    query: Select[Any] = (
        select(runs).select_from(from_).where(*conds).order_by(*orders).limit(max_results + 1).offset(offset)
    )
    rows = conn.execute(query).all()
    more = len(rows) > max_results
    page = load_runs(conn, rows[:max_results])
    if more:
        return RunPage(page, next_offset=offset + max_results, total=None)
    return RunPage(page, next_offset=None, total=offset + len(page) if page or offset == 0 else None)


def count_runs(conn: Connection, conds: list[ColumnElement[bool]]) -> int:
    return int(conn.execute(select(func.count()).select_from(runs).where(*conds)).scalar_one())
