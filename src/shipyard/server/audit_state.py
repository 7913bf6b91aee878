"""What an audit event says about the object a mutation touched: the digest of its state before and
after (sha256 of its canonical wire form), so an investigator can tell that, and when, a run, a
task, a model, a version or an alias changed without the log holding its content. Secrets carry no
digest (their routes record their own events; a value never reaches the log).

The hot write paths of a run (metric batches, heartbeats) carry no digests: reading the whole run
around every metric batch would cost more than the write itself.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import NotFoundError

if TYPE_CHECKING:
    from starlette.types import Scope

    from shipyard.server.app import ServerContext
    from shipyard.server.auth import Principal
    from shipyard.server.permissions import Rule

_HOT = frozenset({"/api/v1/runs/{run_id}/metrics", "/api/v1/runs/{run_id}/heartbeat"})


def wants_digests(rule: Rule | None, template: str | None) -> bool:
    return rule is not None and rule.resource is not None and template not in _HOT


def state_digest(ctx: ServerContext, resource: str, params: dict[str, str]) -> str | None:
    """sha256 of the object's wire form, or None when it does not exist (created or deleted)."""
    import orjson

    from shipyard.metadata.rest.codec import to_wire

    try:
        state = _load(ctx, resource, params)
    except (NotFoundError, ValueError):
        return None
    return hashlib.sha256(orjson.dumps(to_wire(state), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _load(ctx: ServerContext, resource: str, params: dict[str, str]) -> Any:
    metadata = ctx.stores.metadata
    if resource == "run":
        return metadata.get_run(params["run_id"])
    if resource == "task":
        return metadata.get_task(params["task_id"])
    if resource == "artifact":
        return metadata.get_artifact(params["artifact_id"])
    if resource in ("model", "alias"):  # an alias lives in its model's state
        return ctx.registry.get_model(params["name"])
    if resource == "version":
        return ctx.registry.get_version(params["name"], int(params["version"]))
    raise NotFoundError(f"no state for resource kind {resource!r}")


def audit_event(
    principal: Principal, scope: Scope, template: str, status: int, *, detail: str | None, request_id: str
) -> Any:
    from shipyard.core.clock import utcnow
    from shipyard.metadata.security import AuditEvent

    return AuditEvent(
        utcnow(),
        principal.name,
        f"{scope['method']} {template}",
        scope["path"],
        status,
        request_id=request_id,
        source=str((scope.get("client") or ("",))[0])[:64] or None,
        scope=principal.access.token_scope,
        detail=detail,
    )
