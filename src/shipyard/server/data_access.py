"""Data policies on the server: the request principal as a :class:`~shipyard.data.policies.Reader`,
the decision for a dataset version, and the audit event of every read of a pii column.

The routes that let data leave call these (the dataset data route, the blob route for a dataset's
files, version reads with statistics, the UI's preview); the decision itself is
:func:`shipyard.security.data_policy.decide`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipyard.data.policies import Reader, redact_stats, scope_of
from shipyard.metadata.datasets import DatasetVersion
from shipyard.security.data_policy import Decision

if TYPE_CHECKING:
    from fastapi import Request

    from shipyard.server.app import ServerContext
    from shipyard.server.auth import Principal


def reader_of(ctx: ServerContext, principal: Principal) -> Reader:
    """The principal's name, groups, role bindings, token and access, with the server's policies."""
    if ctx.security is None or principal.token_id is None:  # --no-auth: its single user
        return Reader(principal.name, ctx.policies, principal.access)
    pairs, _ = ctx.security.access_rows(principal.name)
    groups = frozenset(g.name for g in ctx.security.list_groups(limit=10_000) if principal.name in g.members)
    return Reader(principal.name, ctx.policies, principal.access, groups, tuple(pairs), principal.token_id)


def dataset_decision(ctx: ServerContext, principal: Principal, version: DatasetVersion) -> Decision:
    project = ctx.datasets.get_dataset(version.dataset_name).project
    reader = reader_of(ctx, principal)
    return reader.decision("dataset", version.dataset_name, version.columns, scope_of(project))


def redacted(
    ctx: ServerContext, principal: Principal, versions: Sequence[DatasetVersion]
) -> list[DatasetVersion]:
    """``versions`` (of one dataset) without the statistics of columns hidden or masked from
    ``principal``: the reader, the dataset's project and its policies are read once."""
    from shipyard.security.data_policy import decide

    if not versions:
        return []
    name = versions[0].dataset_name
    scope = scope_of(ctx.datasets.get_dataset(name).project)
    reader = reader_of(ctx, principal)
    facts = reader.facts(scope)
    policies = reader.policies.list_policies(target_kind="dataset", target=name)
    return [redact_stats(v, decide(facts, policies, v.columns, scope)) for v in versions]


def audit_pii_read(
    ctx: ServerContext, request: Request, version: DatasetVersion, decision: Decision, how: str
) -> None:
    """One audit event for a read that returns pii columns: the dataset, version and columns
    (never values)."""
    if not decision.pii_read or ctx.audit is None:
        return
    import orjson

    from shipyard.core.clock import utcnow
    from shipyard.metadata.security import AuditEvent
    from shipyard.server.deps import principal_of

    principal = principal_of(request)
    detail = {
        "dataset": version.dataset_name,
        "version": version.version,
        "pii_columns": sorted(decision.pii_read),
        "masked": sorted(c for c in decision.pii_read if c in decision.masked),
        "via": how,
    }
    client = request.client.host if request.client is not None else None
    ctx.audit.record(
        AuditEvent(
            utcnow(),
            principal.name,
            "READ pii",
            request.url.path,
            200,
            scope=principal.access.token_scope,
            request_id=request.headers.get("x-request-id"),
            source=(client or "")[:64] or None,
            detail=orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
        )
    )


def blob_refusal(ctx: ServerContext, request: Request, digest: str) -> str | None:
    """Why the blob route must not hand ``digest``'s bytes to the caller: they are (part of) the
    files of a dataset version a data policy restricts for it, and the raw bytes would bypass the
    policy. None when no such version holds it (a read of pii columns through it is audited)."""
    from shipyard.metadata.sql.datasets_store import SqlDatasetStore
    from shipyard.server.deps import principal_of

    store = ctx.datasets
    if not isinstance(store, SqlDatasetStore):
        return None
    principal = principal_of(request)
    for name, number in store.versions_holding(digest):
        version = store.get_version(name, number)
        decision = dataset_decision(ctx, principal, version)
        if decision.restricted:
            return (
                f"blob {digest[:12]}… holds files of {version.uri}, which a data policy restricts for "
                f"{principal.name!r}; read it through GET /api/v1/datasets/{name}/versions/{number}/data"
            )
        audit_pii_read(ctx, request, version, decision, "blob")
    return None
