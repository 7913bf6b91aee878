"""Business outcomes of requests (``shipyard.log_outcome(request_id, name, value)``): a purchase,
a chargeback, revenue — written as Parquet segments beside the prediction log and joined to it by
request id when an experiment is analysed::

    <log_dir>/_outcomes/<YYYYmmddTHHMMSSffffff>-<written ns>-<pid>-<random>.parquet

(``_outcomes`` cannot be a deployment's name). A request's ``outcome:NAME`` is the sum of the
values logged for it under that name, 0 when none was: outcomes count what happened.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

OUTCOMES_DIR = "_outcomes"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


def _log_dir(log_dir: str | None) -> str:
    if log_dir:
        return log_dir
    from shipyard.monitoring.logs import default_log_dir

    return default_log_dir()


def log_outcomes(
    request_ids: Sequence[str],
    name: str,
    values: Sequence[float],
    *,
    log_dir: str | None = None,
    at: datetime | None = None,
) -> int:
    """Record ``values[i]`` of outcome ``name`` for request ``request_ids[i]``; returns the count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not _NAME.match(name):
        raise InvalidInputError(f"outcome name {name!r}: use letters, digits, '_', '-' and '.' (at most 100)")
    if len(request_ids) != len(values):
        raise InvalidInputError(
            f"request_ids ({len(request_ids)}) and values ({len(values)}) differ in length"
        )
    floats = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInputError(f"outcome {name!r}: each value must be a finite number, got {value!r}")
        floats.append(float(value))
    ids = [str(r) for r in request_ids]
    if any(not r or len(r) > 256 for r in ids):
        raise InvalidInputError("a request id must be 1 to 256 characters")
    if not ids:
        return 0
    when = at.astimezone(UTC) if at else datetime.now(UTC)
    table = pa.table(
        {
            "request_id": pa.array(ids, pa.string()),
            "name": pa.array([name] * len(ids), pa.string()),
            "value": pa.array(floats, pa.float64()),
            "at": pa.array([when] * len(ids), pa.timestamp("us", tz="UTC")),
        }
    )
    folder = Path(_log_dir(log_dir)) / OUTCOMES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    file = f"{when:%Y%m%dT%H%M%S%f}-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
    tmp = folder / f".{file}.tmp"
    pq.write_table(table, tmp)
    tmp.replace(folder / file)
    return len(ids)


def log_outcome(
    request_id: str, name: str, value: float, *, log_dir: str | None = None, at: datetime | None = None
) -> None:
    """Record one business outcome of a served request (see the module doc)."""
    log_outcomes([request_id], name, [value], log_dir=log_dir, at=at)


def read_outcomes(log_dir: str, name: str) -> pa.Table:
    """``request_id`` -> ``value`` (summed) of outcome ``name``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = Path(log_dir) / OUTCOMES_DIR
    files = (
        sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")) if folder.is_dir() else []
    )
    if not files:
        return pa.table({"request_id": pa.array([], pa.string()), "value": pa.array([], pa.float64())})
    table = pa.concat_tables([pq.read_table(f, columns=["request_id", "name", "value"]) for f in files])
    table = table.filter(pc.equal(table["name"], name))
    summed = table.group_by("request_id").aggregate([("value", "sum")])
    return summed.select(["request_id", "value_sum"]).rename_columns(["request_id", "value"])
