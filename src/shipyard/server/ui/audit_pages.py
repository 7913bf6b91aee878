"""The audit log page (``/ui/audit``, permission ``audit:read``): events newest first, filtered by
who, what (a substring of the action) and since, paged back with ``before_id``; and the verdict of
the hash chain (:func:`shipyard.core.audit_chain.verify`): ok, or the first event that does not fit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError
from shipyard.metadata.security import AuditEvent, SecurityStore
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.templating import Pages

PAGE = 50


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    checked: int
    problem: str | None
    bad_event: int | None  # the id of the first event that does not fit


def chain_verdict(store: SecurityStore) -> ChainVerdict:
    """Walk the whole chain oldest first, in batches (what ``GET /api/v1/audit/verify`` does)."""
    from shipyard.core.audit_chain import verify

    last: list[int | None] = [None]

    def walk() -> Iterator[AuditEvent]:
        after = 0
        while batch := store.iter_audit(after):
            for event in batch:
                last[0] = event.id
                yield event
            after = batch[-1].id or after

    verdict = verify(walk())
    return ChainVerdict(verdict.ok, verdict.checked, verdict.problem, None if verdict.ok else last[0])


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"since={text!r} is not a date; use e.g. 2026-01-31 or 2026-01-31T12:00"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _before(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInputError(f"before_id={text!r} is not an event id (a positive whole number)")
    return int(text)


def add_audit_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(f"{ROOT}/audit")
    def audit_page(request: Request) -> Response:
        def build() -> Response:
            ctx, query = server_context(request), request.query_params
            assert ctx.security is not None
            who = (query.get("who") or "").strip()[:250] or None
            what = (query.get("what") or "").strip()[:250] or None
            since, before_id = _since(query.get("since")), _before(query.get("before_id"))
            if ctx.audit is not None:
                ctx.audit.flush()  # include what was just done
            events = ctx.security.list_audit(PAGE + 1, who, action=what, since=since, before_id=before_id)
            more = len(events) > PAGE
            events = events[:PAGE]
            filters = {"who": who or "", "what": what or "", "since": query.get("since") or ""}
            return pages.render(
                "audit.html",
                **page_context(
                    request,
                    "audit",
                    events=events,
                    filters=filters,
                    older={**filters, "before_id": events[-1].id} if more and events else None,
                    verdict=chain_verdict(ctx.security),
                ),
            )

        return guarded(pages, request, "audit", build)
