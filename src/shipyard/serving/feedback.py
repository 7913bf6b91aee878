"""``POST /feedback``: ground-truth labels for earlier predictions, joined to the prediction log
by request id (:func:`shipyard.monitoring.logs.log_labels`; the monitoring side owns the storage)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError
from shipyard.serving.config import ServingConfig
from shipyard.serving.guard import error_response


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is known to pass ``limit`` bytes: a larger ``Content-Length`` is
    refused before anything is read, and a streamed body is counted as it arrives."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


MAX_ROW = 2**31 - 1  # rows are stored as int32


def feedback_schema() -> dict[str, Any]:
    """The body's JSON schema: what :func:`parse_feedback` accepts, and nothing else (one label
    type per request: numbers, strings or booleans)."""

    def items(label: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["request_id", "label"],
                "additionalProperties": False,
                "properties": {
                    "request_id": {"type": "string"},
                    "label": label,
                    "row": {"type": "integer", "minimum": 0, "maximum": MAX_ROW},
                },
            },
        }

    return {
        "type": "object",
        "required": ["labels"],
        "additionalProperties": False,
        "properties": {
            "labels": {
                "anyOf": [items({"type": "number"}), items({"type": "string"}), items({"type": "boolean"})]
            }
        },
    }


def parse_feedback(body: bytes) -> tuple[list[str], list[Any], list[int]] | None:
    """Request ids, labels and rows (-1: every row of the request), or None when the body does not
    match :func:`feedback_schema`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or set(data) != {"labels"} or not isinstance(data["labels"], list):
        return None
    ids: list[str] = []
    labels: list[Any] = []
    rows: list[int] = []
    for item in data["labels"]:
        if not isinstance(item, dict) or not {"request_id", "label"} <= set(item) <= _KEYS:
            return None
        row = item.get("row", -1)
        if isinstance(row, float) and row.is_integer():
            row = int(row)  # JSON Schema's integers include 1.0
        if not isinstance(item["request_id"], str) or type(row) is not int or not -1 <= row <= MAX_ROW:
            return None
        if "row" in item and row < 0:
            return None
        ids.append(item["request_id"])
        labels.append(item["label"])
        rows.append(row)
    kinds = {bool if type(v) is bool else float if type(v) in (int, float) else type(v) for v in labels}
    if not kinds <= {float, str, bool} or len(kinds) > 1:
        return None
    return ids, labels, rows


_KEYS = frozenset({"request_id", "label", "row"})


def add_feedback_route(app: FastAPI, config: ServingConfig, reject: Callable[[str, int], None]) -> None:
    """Add the route (its error statuses are documented by :mod:`shipyard.serving.contract`);
    ``reject`` counts refused requests. The guard (:mod:`shipyard.serving.guard`) admits only tokens
    whose user may write."""
    feedback_docs: dict[int | str, dict[str, Any]] = {
        200: {"description": "how many labels were stored and how many request ids were unknown"},
    }
    feedback_body = {
        "required": True,
        "content": {"application/json": {"schema": feedback_schema()}},
    }

    @app.post(
        "/feedback",
        summary="Ground-truth labels for earlier predictions (joined by request id)",
        responses=feedback_docs,
        openapi_extra={"requestBody": feedback_body},
    )
    async def feedback(request: Request) -> Response:
        """Body: ``{"labels": [{"request_id": "...", "label": 1, "row": 0}, ...]}`` (``row`` optional:
        default every row of the request). Unknown request ids are counted, not stored
        (:func:`shipyard.monitoring.logs.log_labels`)."""
        import asyncio

        from shipyard.monitoring.logs import log_labels

        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            reject("unsupported_media_type", 415)
            return error_response(415, "unsupported_media_type", "send the body as application/json")
        if not config.log_dir:
            return error_response(
                409, "no_prediction_log", "this deployment has no prediction log to join labels to"
            )
        body = await read_limited(request, config.max_body_bytes)
        if body is None:
            reject("payload_too_large", 413)
            return error_response(
                413, "payload_too_large", f"request body is over the limit of {config.max_body_bytes} bytes"
            )
        parsed = parse_feedback(body)
        if parsed is None:
            usage = (
                'send {"labels": [{"request_id": "...", "label": <number, string or bool>, '
                '"row": <int >= 0>}]}'
                " (one label type per request, no other keys)"
            )
            return error_response(422, "invalid_input", usage)
        ids, labels, rows = parsed
        try:
            result = await asyncio.to_thread(
                log_labels, ids, labels, deployment=config.deployment_name, log_dir=config.log_dir, rows=rows
            )
        except InvalidInputError as exc:
            return error_response(422, "invalid_input", exc.message)
        return Response(orjson.dumps(result.to_dict()), media_type="application/json")
