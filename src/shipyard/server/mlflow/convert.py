"""shipyard entities in MLflow's JSON form (what ``google.protobuf.json_format`` parses), and the
small request readers the MLflow routes share."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.server.mlflow.filters import MLFLOW_STATUS

if TYPE_CHECKING:
    from shipyard.core.entities import Metric, Run
    from shipyard.metadata.mlflow_compat import DatasetInput, Experiment

RUN_NAME_TAG = "mlflow.runName"
_MAX_TEXT = 64 * 1024  # free text fields (tag values, descriptions) MLflow sends


def _ms(value: Any) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def number(value: float) -> float | str:
    """A double as protobuf JSON writes it: NaN and the infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def experiment_json(exp: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": exp.id,
        "name": exp.name,
        "artifact_location": f"mlflow-artifacts:/{exp.id}",
        "lifecycle_stage": exp.lifecycle_stage,
        "creation_time": exp.created_ms,
        "last_update_time": exp.updated_ms,
        "tags": [{"key": k, "value": v} for k, v in sorted(exp.tags.items())],
    }


def artifact_uri(experiment_id: str, run_id: str) -> str:
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


def run_name(run: Run) -> str:
    return run.tags.get(RUN_NAME_TAG, run.name)


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import orjson

    return orjson.dumps(value).decode()


def run_info(run: Run, experiment_id: str, deleted: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run_name(run),
        "experiment_id": experiment_id,
        "user_id": run.user,
        "status": MLFLOW_STATUS[run.status.value],
        "start_time": _ms(run.start_time),
        "artifact_uri": artifact_uri(experiment_id, run.id),
        "lifecycle_stage": "deleted" if deleted else "active",
    }
    if run.end_time is not None:
        info["end_time"] = _ms(run.end_time)
    return info


def run_json(
    run: Run, experiment_id: str, *, deleted: bool = False, inputs: list[DatasetInput] | None = None
) -> dict[str, Any]:
    """``{"info": ..., "data": ..., "inputs": ...}``; metrics carry their latest value (step 0,
    the run's start time: shipyard keeps the latest value per key, the history has the rest)."""
    started = _ms(run.start_time) or 0
    return {
        "info": run_info(run, experiment_id, deleted),
        "data": {
            "metrics": [
                {"key": k, "value": number(v), "timestamp": started, "step": 0}
                for k, v in sorted(run.metrics.items())
            ],
            "params": [{"key": k, "value": _param_text(v)} for k, v in sorted(run.params.items())],
            "tags": [{"key": k, "value": v} for k, v in sorted(run.tags.items())],
        },
        "inputs": {"dataset_inputs": [input_json(i) for i in inputs or ()]},
    }


def input_json(item: DatasetInput) -> dict[str, Any]:
    return {
        "tags": [{"key": k, "value": v} for k, v in sorted(item.tags.items())],
        "dataset": {
            "name": item.name,
            "digest": item.digest,
            "source_type": item.source_type,
            "source": item.source,
            "schema": item.schema,
            "profile": item.profile,
        },
    }


def metric_json(metric: Metric) -> dict[str, Any]:
    return {
        "key": metric.key,
        "value": number(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }


# ---- request readers ---------------------------------------------------------------------------
def text(body: dict[str, Any], name: str, *, required: bool = True, limit: int = _MAX_TEXT) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInputError(f"missing value for required parameter {name!r}")
        return ""
    if not isinstance(value, str):
        raise InvalidInputError(f"parameter {name!r} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidInputError(f"parameter {name!r} is longer than {limit} characters")
    return value


def run_id_of(body: dict[str, Any]) -> str:
    """MLflow sends ``run_id`` and, for old servers, ``run_uuid``."""
    value = body.get("run_id") or body.get("run_uuid")
    if not isinstance(value, str) or not value:
        raise InvalidInputError("missing value for required parameter 'run_id'")
    if len(value) > 64:
        raise InvalidInputError("run_id is longer than 64 characters")
    return value


def integer(body: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return default
    try:
        result = int(value) if not isinstance(value, bool) and not isinstance(value, float) else None
    except (TypeError, ValueError):
        result = None
    if result is None and isinstance(value, float) and value.is_integer():
        result = int(value)
    if result is None or abs(result) > 2**63 - 1:
        raise InvalidInputError(f"parameter {name!r} must be a whole number, got {str(value)[:40]!r}")
    return result


def double(value: Any, name: str = "value") -> float:
    """A metric value: a number, or protobuf JSON's ``"NaN"``/``"Infinity"``/``"-Infinity"``."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidInputError(f"{name} must be a number, got {str(value)[:40]!r}")


def pairs(body: dict[str, Any], name: str, limit: int) -> list[tuple[str, str]]:
    """A list of ``{"key": ..., "value": ...}`` objects (tags, params)."""
    items = body.get(name) or []
    if not isinstance(items, list):
        raise InvalidInputError(f"parameter {name!r} must be a list")
    if len(items) > limit:
        raise InvalidInputError(f"{name} has {len(items)} items; send at most {limit} per request")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInputError(f"each of {name} must be an object with key and value")
        out.append((text(item, "key", limit=250), text(item, "value", required=False)))
    return out
