"""``POST /api/v1/auth/oidc/exchange``: a CI job's OpenID Connect ID token for a short-lived machine
token, as the server's trust rules allow (:mod:`shipyard.server.ci_oidc`). A public route (the ID
token is the credential); each outcome is audited, each refusal is one line (401)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response

from shipyard.core.clock import utcnow
from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.server.deps import ctx_of, once, wire
from shipyard.server.schemas import OidcExchangeIn

if TYPE_CHECKING:
    from shipyard.server.app import ServerContext
    from shipyard.server.ci_oidc import Exchanger

router = APIRouter(prefix="/api/v1", tags=["tokens"], dependencies=once())
_LOCK = threading.Lock()


def exchanger_of(request: Request) -> Exchanger:
    """The app's exchanger (its rules read once from ``settings.ci_trust_file``)."""
    ctx = ctx_of(request)
    if ctx.settings.ci_trust_file is None or not ctx.config.auth:
        raise NotFoundError("this server trusts no CI issuer (shipyard server --ci-trust FILE)")
    with _LOCK:
        found: Exchanger | None = getattr(request.app.state, "ci_exchanger", None)
        if found is None:
            from shipyard.server.ci_oidc import Exchanger, load_trust_rules

            found = Exchanger(load_trust_rules(ctx.settings.ci_trust_file))
            request.app.state.ci_exchanger = found
        return found


def _audit(ctx: ServerContext, request: Request, user: str, status: int, detail: dict[str, object]) -> None:
    import orjson

    from shipyard.metadata.security import AuditEvent

    if ctx.audit is not None:
        client = request.client.host if request.client else None
        ctx.audit.record(
            AuditEvent(
                utcnow(),
                user,
                "oidc.exchange",
                request.url.path,
                status,
                source=(client or "")[:64] or None,
                detail=orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
            )
        )


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_ANSWERS: dict[int | str, dict[str, object]] = {  # a public route: the guard's 401/404/503 do not apply
    401: {"description": "The ID token was refused (one line: why)", "content": _ERROR},
    404: {"description": "This server trusts no CI issuer (no --ci-trust)", "content": _ERROR},
    503: {"description": "Storage unavailable; retry later", "content": _ERROR},
}


@router.post("/auth/oidc/exchange", status_code=201, responses=_ANSWERS)
def exchange(request: Request, body: OidcExchangeIn) -> Response:
    from datetime import timedelta

    from shipyard.security.policy import action_permissions, check_actions
    from shipyard.server.accounts import issue_token
    from shipyard.server.ci_oidc import ExchangeRefused
    from shipyard.server.edge import client_host

    ctx = ctx_of(request)
    exchanger = exchanger_of(request)
    throttle, client = ctx.throttle, client_host(request.scope)
    if throttle is not None and (waiting := throttle.check(client, None)) is not None:
        from shipyard.server.errors import error_response

        headers = {"Retry-After": str(waiting.retry_after_s)}
        return error_response(429, "too_many_requests", waiting.message, headers=headers)
    try:
        found = exchanger.verify(body.token, body.rule)
        rule = found.rule
        assert ctx.security is not None
        try:
            account = ctx.security.get_user(rule.service_account)
        except NotFoundError:
            account = None
        if account is None or account.kind != "service" or account.disabled:
            raise ExchangeRefused(
                f"trust rule {rule.name!r} names {rule.service_account!r}, which is not an enabled "
                "service account"
            )
    except ShipyardError as exc:
        if throttle is not None:
            throttle.failed(client, None)
        _audit(ctx, request, "oidc", 401, {"refused": exc.message})
        raise ExchangeRefused(exc.message) from None
    actions = check_actions(rule.actions)
    lifetime: timedelta = rule.lifetime()
    value, record = issue_token(
        ctx.security,
        rule.service_account,
        f"oidc-{rule.name}",
        lifetime,
        scope=rule.scope(),
        permissions=action_permissions(actions),
        actions=actions,
    )
    _audit(
        ctx,
        request,
        rule.service_account,
        201,
        {"rule": rule.name, "subject": found.subject[:500], "token_id": record.id, "scope": record.scope},
    )
    return wire(
        {
            "token": value,
            "token_type": "Bearer",
            "expires_in": int(lifetime.total_seconds()),
            "record": record.public(utcnow()),
        },
        201,
    )
