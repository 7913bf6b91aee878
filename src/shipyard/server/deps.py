"""Small helpers the routers share: the request's context and principal, wire responses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    from shipyard.server.app import ServerContext
    from shipyard.server.auth import Principal


def ctx_of(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def principal_of(request: Request) -> Principal:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:  # pragma: no cover - the guard never lets such a request through
        raise RuntimeError("request reached a route without a principal")
    return principal


def acting_user(request: Request, claimed: str | None) -> str:
    """Who a write is recorded as: principals with ``user:manage`` (and --no-auth servers) may record
    the name the client sends; everyone else is recorded as themselves."""
    principal = principal_of(request)
    if claimed and principal.can("user:manage"):
        return claimed
    return principal.name


def may_write_runs(request: Request, run_ids: Any = (), task_ids: Any = ()) -> None:
    """The per-object check for writes whose runs come from the request body (each run once)."""
    from shipyard.server.access import check_run, check_task

    ctx, access = ctx_of(request), principal_of(request).access
    for run_id in dict.fromkeys(run_ids):
        check_run(ctx, access, "run:write", run_id)
    for task_id in dict.fromkeys(task_ids):
        check_task(ctx, access, "run:write", task_id)


def wire(obj: Any, status: int = 200) -> Response:
    """``obj`` in its wire form (see :mod:`shipyard.metadata.rest.codec`) as a JSON response."""
    import orjson

    from shipyard.metadata.rest.codec import to_wire

    data = to_wire(obj)
    try:
        body = orjson.dumps(data)
    except orjson.JSONEncodeError:  # an integer past 64 bits stored before the edge refused them
        import json

        body = json.dumps(data, allow_nan=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")


def decode_body(cls: type[Any], data: Any) -> Any:
    """A dataclass from a validated request body; codec errors become InvalidInputError (400)."""
    from shipyard.metadata.rest.codec import decode

    try:
        return decode(cls, data)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"invalid {cls.__name__}: {exc}") from None


def single_query_values(request: Request) -> None:
    """Refuse a query parameter the route takes once but the request repeats (``?prefix=a&prefix=b``
    would otherwise silently mean ``b``); list parameters (``?status=a&status=b``) may repeat."""
    query = request.query_params
    if len(query.multi_items()) == len(query):  # len(): distinct names
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    for field in dependant.query_params:
        name = field.alias
        if len(query.getlist(name)) > 1 and not _is_sequence(field.field_info.annotation):
            raise InvalidInputError(f"query parameter {name!r} is given more than once; send it once")


def _is_sequence(annotation: Any) -> bool:
    """Whether a parameter's type is a list (``list[str] | None`` included)."""
    import typing

    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return any(_is_sequence(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def once() -> list[Any]:
    """The dependencies every API router takes: :func:`single_query_values`."""
    from fastapi import Depends

    return [Depends(single_query_values)]
