"""Shared CLI output: JSON encoding (ISO datetimes, NaN rule), plain-text formatting, Rich tables.

JSON output is strict JSON: datetimes are ISO-8601 strings, and the float values JSON cannot hold
are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from shipyard.core.entities import ArtifactRecord, Run, Task


def to_jsonable(value: Any) -> Any:
    """Plain JSON values from entities, datetimes, enums, paths and numpy values."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return to_jsonable(value.tolist())
    if hasattr(value, "to_dict"):  # pandas DataFrame / Series
        try:
            return to_jsonable(value.to_dict(orient="list"))
        except TypeError:
            return to_jsonable(value.to_dict())
    raise TypeError(f"cannot show a {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, allow_nan=False, ensure_ascii=False)


def print_json(value: Any) -> None:
    sys.stdout.write(dumps(value) + "\n")


def console() -> Console:
    from rich.console import Console

    # piped output (scripts, grep) gets full-width rows instead of columns squeezed to 80
    width = None if sys.stdout.isatty() else 240
    return Console(highlight=False, soft_wrap=False, width=width)


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


def fmt_value(value: Any) -> str:
    """A param/metric value as text (NaN and inf as in JSON output)."""
    jsonable = to_jsonable(value)
    return jsonable if isinstance(jsonable, str) else json.dumps(jsonable)


STATUS_STYLE = {
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "pending": "dim",
    "cached": "cyan",
    "reused": "cyan",
    "skipped": "dim",
}


def styled_status(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def run_summary(run: Run) -> dict[str, Any]:
    """The JSON shape of a run (``runs list --json`` items; ``runs show --json`` adds to it)."""
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status.value,
        "namespace": run.namespace,
        "user": run.user,
        "flow": run.flow_name,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_s": run.duration_s,
        "heartbeat_at": run.heartbeat_at,
        "params": run.params,
        "tags": run.tags,
        "metrics": run.metrics,
        "code_version": run.code_version,
        "origin_run_id": run.origin_run_id,
        "error": run.error,
    }


def task_summary(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "step": task.step,
        "index": task.index,
        "key": task.key,
        "status": task.status.value,
        "attempts": task.attempts,
        "started_at": task.started_at,
        "ended_at": task.ended_at,
        "duration_s": task.duration_s,
        "node": task.node,
        "reused_from": task.reused_from,
        "error": task.error,
    }


def artifact_summary(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "task_id": record.task_id,
        "serializer": record.serializer,
        "size": record.size,
        "digest": record.digest,
        "unsafe": record.unsafe,
        "created_at": record.created_at,
        "meta": record.meta,
    }
