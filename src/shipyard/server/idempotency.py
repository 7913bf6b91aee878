"""``Idempotency-Key`` on POST routes: a retried write is applied once.

A POST that carries ``Idempotency-Key: <1-128 of A-Z a-z 0-9 _ . : ->`` is recorded under (principal,
key) with its route and the sha256 of its body before it runs; its answer (status, content type,
body) is stored when it finishes. Within ``ServerConfig.idempotency_ttl_s``:

- the same key, route and body again answers the stored response (header ``Idempotent-Replayed:
  true``) without running the route a second time;
- the same key with another route or body answers **422** ``invalid_input``;
- the same key while the first request still runs answers **409** ``conflict`` with Retry-After.

A request that fails on the server's side (5xx) or whose answer is over ``MAX_STORED_BYTES`` is not
kept: its key is released and a retry runs it again. The REST client sends one key per logical
write and reuses it on every retry (:mod:`shipyard.metadata.rest.http`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import HTTP_STATUS, ShipyardError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from shipyard.server.app import ServerContext

HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
MAX_STORED_BYTES = 1024 * 1024
PURGE_EVERY_S = 600.0
_KEY = re.compile(KEY_PATTERN)
log = logging.getLogger("shipyard.server")


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def wrapped() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return wrapped


async def run_idempotent(  # noqa: PLR0917
    ctx: ServerContext,
    scope: Scope,
    receive: Receive,
    send: Send,
    app: ASGIApp,
    principal: str,
    route: str,
    key: str,
) -> None:
    """Serve one POST to ``route`` (its template) that carries an Idempotency-Key (see the module doc)."""
    import anyio.to_thread

    from shipyard.core.clock import utcnow
    from shipyard.server.errors import error_response

    store = ctx.idempotency
    if store is None:  # not a SQL-backed server: the header is not honoured
        await app(scope, receive, send)
        return
    if not _KEY.fullmatch(key):
        await error_response(
            400,
            "invalid_input",
            f"invalid {HEADER} header: use 1 to 128 letters, digits, '_', '.', ':' or '-'",
        )(scope, receive, send)
        return
    body = await _read_body(receive)
    route = f"POST {route}"[:250]
    ttl = timedelta(seconds=ctx.config.idempotency_ttl_s)
    now = utcnow()
    try:
        if time.monotonic() - ctx.idempotency_purged_at > PURGE_EVERY_S:
            ctx.idempotency_purged_at = time.monotonic()
            await anyio.to_thread.run_sync(store.purge, now - ttl)
        claim = await anyio.to_thread.run_sync(
            lambda: store.claim(principal, key, route, hashlib.sha256(body).hexdigest(), now, ttl)
        )
    except ShipyardError as exc:  # the database is down: 503, the client retries with the same key
        await error_response(HTTP_STATUS.get(exc.code, 500), exc.code, exc.message)(scope, receive, send)
        return
    if claim.outcome == "mismatch":
        await error_response(
            422,
            "invalid_input",
            f"{HEADER} {key!r} was already used for a different request (another route or body); "
            "send a new key for each write",
        )(scope, receive, send)
        return
    if claim.outcome == "running":
        await error_response(
            409,
            "conflict",
            f"a request with {HEADER} {key!r} is still running; retry once it has finished",
            headers={"Retry-After": "1"},
        )(scope, receive, send)
        return
    if claim.outcome == "replay":
        headers = [
            (b"idempotent-replayed", b"true"),
            (b"content-length", str(len(claim.response or b"")).encode()),
        ]
        if claim.content_type:
            headers.append((b"content-type", claim.content_type.encode("latin-1")))
        await send({"type": "http.response.start", "status": claim.status, "headers": headers})
        await send({"type": "http.response.body", "body": claim.response or b""})
        return
    await _run_and_store(ctx, scope, _replaying(body, receive), send, app, principal, key)


async def _run_and_store(  # noqa: PLR0917
    ctx: ServerContext, scope: Scope, receive: Receive, send: Send, app: ASGIApp, principal: str, key: str
) -> None:
    import anyio.to_thread

    store = ctx.idempotency
    assert store is not None
    status, content_type, parts, size, complete = 500, None, [], 0, False

    async def capturing(message: Message) -> None:
        nonlocal status, content_type, size, complete
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for name, value in message.get("headers", ()):
                if name.lower() == b"content-type":
                    content_type = bytes(value).decode("latin-1")[:100]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= MAX_STORED_BYTES:
                parts.append(chunk)
            complete = not message.get("more_body", False)
        await send(message)

    try:
        await app(scope, receive, capturing)
    finally:
        try:
            if complete and status < 500 and size <= MAX_STORED_BYTES:
                response = b"".join(parts)
                await anyio.to_thread.run_sync(
                    lambda: store.complete(principal, key, status, content_type, response)
                )
            else:
                await anyio.to_thread.run_sync(store.release, principal, key)
        except Exception as exc:  # the answer went out; a retry may run the write again
            log.error("cannot record the answer for %s %r: %s", HEADER, key, exc)


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the optional ``Idempotency-Key`` header, and its 409/422 answers, on every POST
    operation of an OpenAPI ``schema`` (changed in place and returned)."""
    parameter = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": KEY_PATTERN, "maxLength": 128},
        "description": "Send the same key when retrying this write: it is applied once, and a retry "
        "gets the first answer back (header Idempotent-Replayed: true). Kept for the server's "
        "idempotency TTL (24 h by default), per principal.",
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    answers = {
        "409": {
            "description": "Conflict: a request with this Idempotency-Key is still running",
            "content": error,
        },
        "422": {
            "description": "Unprocessable: this Idempotency-Key was used for another request",
            "content": error,
        },
    }
    for item in schema.get("paths", {}).values():
        operation = item.get("post")
        if operation is None:
            continue
        params = operation.setdefault("parameters", [])
        if not any(p.get("name") == HEADER and p.get("in") == "header" for p in params):
            params.append(parameter)
        responses = operation.setdefault("responses", {})
        for code, answer in answers.items():
            responses.setdefault(code, answer)
    return schema
