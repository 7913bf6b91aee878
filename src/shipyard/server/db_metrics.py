"""Database latency and errors for ``/metrics``: SQLAlchemy engine events on the metadata store's
engine (every statement of the metadata, registry, security and monitoring stores, which share it).

``operation`` is the statement's first keyword (``select``, ``insert``, ``update``, ``delete``,
``begin``, else ``other``); ``kind`` is the SQLAlchemy exception class (``OperationalError``,
``IntegrityError``, ...). :func:`watch_engine` attaches the listeners and returns the function
that detaches them (the app's lifespan calls it at shutdown).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from shipyard.server.platform_metrics import PlatformMetrics

_OPERATIONS = frozenset({"select", "insert", "update", "delete", "begin", "commit", "rollback", "with"})
_STARTS = "shipyard_metrics_starts"


def operation_of(statement: Any) -> str:
    words = str(statement)[:16].split(None, 1)
    first = words[0].lower() if words else ""
    return first if first in _OPERATIONS else "other"


def watch_engine(engine: Engine, metrics: PlatformMetrics) -> Callable[[], None]:
    from sqlalchemy import event

    errors = metrics.db_errors
    by_operation = {op: metrics.db_latency.labels(op) for op in (*_OPERATIONS, "other")}

    def before(conn: Any, *_: Any) -> None:
        conn.info.setdefault(_STARTS, []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, statement: Any, *_: Any) -> None:
        starts = conn.info.get(_STARTS)
        if starts:
            by_operation[operation_of(statement)].observe(time.perf_counter() - starts.pop())

    def failed(context: Any) -> None:
        try:  # the connection may be gone with the error
            starts = context.connection.info.get(_STARTS) if context.connection is not None else None
            if starts:
                starts.pop()
        except Exception:  # noqa: S110 - a lost start time only skips one observation
            pass
        wrapped = context.sqlalchemy_exception
        errors.labels(type(wrapped).__name__ if wrapped is not None else "other").inc()

    listeners = (("before_cursor_execute", before), ("after_cursor_execute", after), ("handle_error", failed))
    for name, fn in listeners:
        event.listen(engine, name, fn)

    def detach() -> None:
        for name, fn in listeners:
            if event.contains(engine, name, fn):
                event.remove(engine, name, fn)

    return detach
