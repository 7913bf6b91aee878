"""Secrets per project and environment: set, read (audited), list (metadata only), delete.

The guard has already checked ``secret:read`` / ``secret:write`` at ``project:P/env:E`` for the
path's project and environment (:func:`shipyard.server.access.check_secret`). Reading a value is a
sensitive read: the guard audits only mutations, so :func:`read_secret` records its own audit event
(``READ secret`` and the path; never the value). Values appear only in the body of a successful
read (with ``Cache-Control: no-store``): never in errors, logs or audit events.

The backend is opened on first use from the server's settings (``SHIPYARD_SECRETS_KEY`` or
``SHIPYARD_SECRETS_KEY_FILE``); a server without a key answers every secrets route 503
``not_configured`` (no Retry-After) saying how to make one, and everything else works as before.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from shipyard.core.clock import utcnow
from shipyard.core.errors import HTTP_STATUS, ConfigurationError, NotConfiguredError, ShipyardError
from shipyard.secrets.base import MAX_VALUE_BYTES, check_secret_ref, secret_scope
from shipyard.server.deps import ctx_of, once, principal_of, wire
from shipyard.server.schemas import ProjectName, SecretName

if TYPE_CHECKING:
    from shipyard.secrets.base import SecretsBackend

router = APIRouter(prefix="/api/v1", tags=["secrets"], dependencies=once())
_ONE = "/secrets/{project}/{environment}/{name}"
_OPEN_LOCK = threading.Lock()
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


class SecretValueIn(BaseModel):
    """The body of ``PUT /api/v1/secrets/{project}/{environment}/{name}``."""

    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=MAX_VALUE_BYTES)  # empty and byte limits: check_secret_value


def backend_of(request: Request) -> SecretsBackend:
    """The server's secrets backend, opened once (ConfigurationError without a key)."""
    state = request.app.state
    backend: SecretsBackend | None = getattr(state, "secrets_backend", None)
    if backend is None:
        with _OPEN_LOCK:
            backend = getattr(state, "secrets_backend", None)
            if backend is None:
                from shipyard.secrets import open_secrets_backend

                ctx = ctx_of(request)
                try:
                    backend = open_secrets_backend(ctx.settings, ctx.stores.metadata)
                except ConfigurationError as exc:  # no key: 503, the rest of the server works
                    raise NotConfiguredError(exc.message.replace("\n", " ")) from None
                state.secrets_backend = backend
    return backend


@router.put(_ONE, responses={201: {"description": "Created (its first version)"}})
def set_secret(
    request: Request, project: ProjectName, environment: ProjectName, name: SecretName, body: SecretValueIn
) -> Response:
    check_secret_ref(project, environment, name)
    info = backend_of(request).set(
        project, environment, name, body.value, by=principal_of(request).name, at=utcnow()
    )
    return wire(info, status=201 if info.version == 1 else 200)


@router.get(_ONE)
def read_secret(
    request: Request, project: ProjectName, environment: ProjectName, name: SecretName, value: bool = True
) -> Response:
    """The secret's metadata and value; ``?value=false``: the metadata only (not a read of the value,
    so not audited as one)."""
    check_secret_ref(project, environment, name)
    backend = backend_of(request)
    if not value:
        return wire(_public(backend.info(project, environment, name)))
    status = 500
    try:
        info = backend.info(project, environment, name)
        revealed = backend.get(project, environment, name)
        status = 200
    except ShipyardError as exc:
        status = HTTP_STATUS.get(exc.code, 500)
        raise
    finally:
        _audit_read(request, project, environment, status)
    response = wire({**_public(info), "value": revealed})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/secrets/{project}/{environment}")
def list_secrets(
    request: Request,
    project: ProjectName,
    environment: ProjectName,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    check_secret_ref(project, environment)
    found = backend_of(request).list(project, environment, limit=limit, after=after)
    following = found[-1].name if len(found) == limit else None
    return wire({"secrets": [_public(i) for i in found], "next": following})


@router.delete(_ONE, status_code=204)
def delete_secret(
    request: Request, project: ProjectName, environment: ProjectName, name: SecretName
) -> Response:
    check_secret_ref(project, environment, name)
    backend_of(request).delete(project, environment, name)
    return Response(status_code=204)


def _public(info: object) -> dict[str, object]:
    from shipyard.metadata.rest.codec import to_wire

    shown: dict[str, object] = to_wire(info)
    return shown


def _audit_read(request: Request, project: str, environment: str, status: int) -> None:
    """One audit event for a read of a value (who, which secret, the answer; never the value)."""
    from shipyard.metadata.security import AuditEvent

    ctx = ctx_of(request)
    if ctx.audit is None:  # pragma: no cover - create_app always sets it
        return
    sent = request.headers.get("x-request-id") or ""
    client = request.client.host if request.client is not None else ""
    ctx.audit.record(
        AuditEvent(
            utcnow(),
            principal_of(request).name,
            "READ secret",
            request.url.path,
            status,
            scope=secret_scope(project, environment),
            request_id=sent if _REQUEST_ID.fullmatch(sent) else None,
            source=client[:64] or None,
        )
    )
