"""``POST /feedback``: ground-truth labels for earlier predictions, joined to the prediction log
by request id (:func:`shipyard.monitoring.logs.log_labels`; the monitoring side owns the storage)."""

from __future__ import annotations

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


def add_feedback_route(
    app: FastAPI, config: ServingConfig, documented: dict[int | str, dict[str, Any]], error_body: Any
) -> None:
    """Add the route; ``documented`` holds the shared error responses (401, 403, 413, ...). The
    guard (:mod:`shipyard.serving.guard`) admits only tokens whose user may write."""
    feedback_docs: dict[int | str, dict[str, Any]] = {
        200: {"description": "how many labels were stored and how many request ids were unknown"},
        **documented,
        409: {"model": error_body, "description": "this deployment writes no prediction log"},
    }
    feedback_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["labels"],
                    "properties": {
                        "labels": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["request_id", "label"],
                                "properties": {
                                    "request_id": {"type": "string"},
                                    "label": {"type": ["number", "string", "boolean"]},
                                    "row": {"type": "integer", "minimum": 0},
                                },
                            },
                        }
                    },
                }
            }
        },
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
            return error_response(415, "unsupported_media_type", "send the body as application/json")
        if not config.log_dir:
            return error_response(
                409, "no_prediction_log", "this deployment has no prediction log to join labels to"
            )
        body = await read_limited(request, config.max_body_bytes)
        if body is None:
            return error_response(
                413, "payload_too_large", f"request body is over the limit of {config.max_body_bytes} bytes"
            )
        usage = 'send {"labels": [{"request_id": "...", "label": <number, string or bool>, "row": <int>}]}'
        try:
            items = orjson.loads(body)["labels"]
            ids = [i["request_id"] for i in items]
            labels = [i["label"] for i in items]
            rows = [i.get("row", -1) for i in items]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return error_response(422, "invalid_input", usage)
        kinds = {type(v) for v in labels}
        if (
            not all(isinstance(i, str) for i in ids)
            or not all(type(r) is int and r >= -1 for r in rows)
            or not kinds <= {int, float, str, bool}
            or len(kinds - {int, float}) > 1
            or (str in kinds and len(kinds) > 1)
        ):
            return error_response(422, "invalid_input", usage + " (one label type per request)")
        try:
            result = await asyncio.to_thread(
                log_labels, ids, labels, deployment=config.deployment_name, log_dir=config.log_dir, rows=rows
            )
        except InvalidInputError as exc:
            return error_response(422, "invalid_input", exc.message)
        return Response(orjson.dumps(result.to_dict()), media_type="application/json")
