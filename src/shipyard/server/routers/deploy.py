"""Delivery state (:class:`~shipyard.metadata.delivery.DeliveryStore` over HTTP): an environment's
applied objects, releases and apply lock.

The guard has checked ``deploy:plan`` (reads) or ``deploy:apply`` (the lock and releases) at
``project:P/env:E`` for the path's project and environment (:func:`shipyard.server.access.
check_environment`). Who holds a lock and who applied a release is the token's principal, never a
name the client sends; finishing a release records its audit event (``release.<outcome>``) in the
store's transaction. The spec's own policies (approvals, quality, who may apply by name) are
judged by the planner (``shipyard.deploy.plan``) before it writes here.

Sync status (``shipyard sync``): the loop writes what it saw (``PUT .../sync``, ``deploy:apply``:
it is an applier); anyone who may plan reads it. ``POST .../sync/hook`` is the webhook a git host
or CI calls after a push: it needs only ``deploy:sync``, reads no body, and bumps the
environment's wake counter, which the loop watches to poll at once instead of at its interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from shipyard.core.errors import PermissionDeniedError
from shipyard.metadata.delivery import DeliveryStore, ObjectState, ReleaseDraft, SyncReport
from shipyard.security.policy import covers, release_refusal
from shipyard.server.contract import INT32_MAX, JSON_INT_MAX
from shipyard.server.deps import ctx_of, once, principal_of, wire
from shipyard.server.paging import (
    LIMIT_DOC,
    LIST_PAGE_DEFAULT,
    LIST_PAGE_MAX,
    OFFSET_DOC,
    SCAN_CHUNK,
    check_list_page,
    scan_visible,
    split_page,
)
from shipyard.server.schemas import (
    DeployLockIn,
    DeployName,
    DeployObjectIn,
    DeployRemoveIn,
    EnvCursor,
    LockOwner,
    Name,
    ProjectName,
    PromotionEvaluateIn,
    ReleaseBeginIn,
    ReleaseFinishIn,
    SecretName,
    SyncReportIn,
)

router = APIRouter(prefix="/api/v1", tags=["deploy"], dependencies=once())
_ENV = "/deploy/{project}/{environment}"
_Limit = Annotated[int, Query(ge=1, le=LIST_PAGE_MAX, description=LIMIT_DOC)]
_Offset = Annotated[int, Query(ge=0, le=JSON_INT_MAX, description=OFFSET_DOC)]
_After = Annotated[
    EnvCursor | None,
    Query(description="``PROJECT/ENVIRONMENT``: continue after it (the last page's ``next_after``)."),
]
_SCAN = SCAN_CHUNK  # rows read per query while filtering what the caller may see


def _cursor(after: str | None) -> tuple[str, str] | None:
    if after is None:
        return None
    first, _, second = after.partition("/")
    return first, second


def _store(request: Request) -> DeliveryStore:
    return ctx_of(request).delivery


def _states(rows: list[DeployObjectIn]) -> list[ObjectState]:
    return [ObjectState(r.kind, r.name, dict(r.spec), r.model_version) for r in rows]


def _keys(rows: list[DeployRemoveIn]) -> list[tuple[str, str]]:
    return [(r.kind, r.name) for r in rows]


def _check_changes(
    request: Request, put: list[DeployObjectIn], remove: list[DeployRemoveIn], plan: dict[str, object]
) -> None:
    """A machine token with only the experiment/promote actions writes only such releases."""
    why = release_refusal(
        principal_of(request).access.token_actions, [r.kind for r in put], len(remove), plan
    )
    if why is not None:
        raise PermissionDeniedError(why)


def _check_promotion(
    request: Request, project: str, environment: str, put: list[DeployObjectIn], plan: dict[str, object]
) -> None:
    """A token whose only way to change a service is the promote action switches it only when the
    server, judging the gates itself (over its own prediction log), agrees: the plan's verdict is
    the client's word, so it is not taken."""
    actions = principal_of(request).access.token_actions
    services = [r for r in put if r.kind == "service"]
    if actions is None or "apply" in actions or not services:
        return
    promotion = plan.get("promotion")
    asked = promotion if isinstance(promotion, dict) else {}
    service, experiment = asked.get("service"), asked.get("experiment")
    if not isinstance(service, str) or not isinstance(experiment, str) or len(services) != 1:
        raise PermissionDeniedError("a promotion release names its service and experiment in its plan")
    from shipyard.deploy.facts import StoreFacts
    from shipyard.deploy.promote import gates
    from shipyard.monitoring.logs import default_log_dir

    ctx, principal = ctx_of(request), principal_of(request)
    judged = gates(
        ctx.stores,
        StoreFacts(ctx.stores.metadata, ctx.delivery, principal.name),
        project,
        service,
        challenger=experiment,
        env=environment,
        log_dir=default_log_dir(ctx.settings.home),
    )
    failed = [g for g in judged.gates if not g.ok]
    if failed:
        raise PermissionDeniedError(
            "the server's gates refuse this promotion: " + "; ".join(f"{g.name}: {g.message}" for g in failed)
        )
    if services[0].name != service or services[0].model_version != judged.target:
        raise PermissionDeniedError(
            f"a promotion puts {service!r} on {judged.target!r} only, the experiment's challenger"
        )


def _plannable_page(  # noqa: PLR0917 - one page of one keyset list
    request: Request,
    key: str,
    fetch: Callable[[tuple[str, str] | None], Sequence[Any]],
    limit: int,
    offset: int,
    after: str | None,
) -> Response:
    """A page of a list keyed by (project, environment), read by keyset in chunks of ``_SCAN`` and
    filtered to what the caller may plan in (``deploy:plan``): no request holds more than a page
    and a chunk; ``next_after`` continues where the page ended."""
    check_list_page(limit, offset)
    access = principal_of(request).access
    rows = scan_visible(
        fetch,
        lambda row: (row.project, row.environment),
        lambda row: access.can("deploy:plan", f"project:{row.project}/env:{row.environment}"),
        limit=limit,
        offset=offset,
        after=_cursor(after),
        chunk=_SCAN,
    )
    page, next_offset = split_page(rows, limit, offset)
    next_after = f"{page[-1].project}/{page[-1].environment}" if next_offset is not None else None
    return wire({key: page, "next_offset": next_offset, "next_after": next_after})


@router.get("/deploy/environments")
def list_environments(
    request: Request,
    project: ProjectName | None = None,
    limit: _Limit = LIST_PAGE_DEFAULT,
    offset: _Offset = 0,
    after: _After = None,
) -> Response:
    """Environments with a release that the caller may plan in, by project then name, paged in the
    database: read by keyset in chunks of ``_SCAN`` and filtered, so no request holds more than a
    page and a chunk. ``after`` (``PROJECT/ENVIRONMENT``, the answer's ``next_after``) continues
    where a page ended without reading what came before; ``offset`` counts visible rows after it."""
    store = _store(request)
    return _plannable_page(
        request,
        "environments",
        lambda cursor: store.list_environments(project, limit=_SCAN, after=cursor),
        limit,
        offset,
        after,
    )


@router.get(f"{_ENV}/objects")
def list_objects(
    request: Request,
    project: ProjectName,
    environment: ProjectName,
    limit: _Limit = LIST_PAGE_DEFAULT,
    offset: _Offset = 0,
) -> Response:
    check_list_page(limit, offset)
    rows = _store(request).list_objects(project, environment, limit=limit + 1, offset=offset)
    page, next_offset = split_page(rows, limit, offset)
    return wire({"objects": page, "next_offset": next_offset})


@router.get(f"{_ENV}/releases")
def list_releases(
    request: Request,
    project: ProjectName,
    environment: ProjectName,
    limit: _Limit = LIST_PAGE_DEFAULT,
    offset: _Offset = 0,
) -> Response:
    check_list_page(limit, offset)
    rows = _store(request).list_releases(project, environment, limit=limit + 1, offset=offset)
    page, next_offset = split_page(rows, limit, offset)
    return wire({"releases": page, "next_offset": next_offset})


@router.get(f"{_ENV}/releases/{{number}}")
def get_release(
    request: Request,
    project: ProjectName,
    environment: ProjectName,
    number: Annotated[int, Path(ge=1, le=INT32_MAX)],
) -> Response:
    return wire({"release": _store(request).get_release(project, environment, number)})


@router.post(f"{_ENV}/releases", responses={201: {"description": "The release, applying"}})
def begin_release(
    request: Request, project: ProjectName, environment: ProjectName, body: ReleaseBeginIn
) -> Response:
    _check_changes(request, body.put, body.remove, dict(body.plan))
    _check_promotion(request, project, environment, body.put, dict(body.plan))
    draft = ReleaseDraft(
        spec_hash=body.spec_hash,
        plan=dict(body.plan),
        commit=body.commit,
        author=body.author,
        kind=body.kind,
        restores=body.restores,
    )
    release = _store(request).begin_release(
        project,
        environment,
        draft,
        owner=body.owner,
        by=principal_of(request).name,
        put=_states(body.put),
        remove=_keys(body.remove),
    )
    return wire({"release": release}, status=201)


@router.post(f"{_ENV}/releases/{{number}}/finish")
def finish_release(
    request: Request,
    project: ProjectName,
    environment: ProjectName,
    number: Annotated[int, Path(ge=1, le=INT32_MAX)],
    body: ReleaseFinishIn,
) -> Response:
    _check_changes(request, body.put, body.remove, {})
    _check_promotion(request, project, environment, body.put, {})
    release = _store(request).finish_release(
        project,
        environment,
        number,
        owner=body.owner,
        outcome=body.outcome,
        error=body.error,
        put=_states(body.put),
        remove=_keys(body.remove),
    )
    return wire({"release": release})


@router.get(f"{_ENV}/lock")
def get_lock(request: Request, project: ProjectName, environment: ProjectName) -> Response:
    return wire({"lock": _store(request).get_lock(project, environment)})


@router.post(f"{_ENV}/lock")
def acquire_lock(
    request: Request, project: ProjectName, environment: ProjectName, body: DeployLockIn
) -> Response:
    lock = _store(request).acquire_lock(
        project, environment, owner=body.owner, by=principal_of(request).name, ttl_s=body.ttl_s
    )
    return wire({"lock": lock})


@router.delete(f"{_ENV}/lock")
def release_lock(
    request: Request, project: ProjectName, environment: ProjectName, owner: LockOwner
) -> Response:
    return wire({"released": _store(request).release_lock(project, environment, owner=owner)})


@router.get(f"{_ENV}/applier")
def applier(request: Request, project: ProjectName, environment: ProjectName) -> Response:
    """The token's principal as an applier here: kind, the roles bound to it at a scope that reaches
    the environment (its groups' included), and whether it holds deploy:apply there."""
    ctx, principal = ctx_of(request), principal_of(request)
    access = principal.access
    scope = f"project:{project}/env:{environment}"
    roles: list[str] = []
    if ctx.security is not None and principal.token_id is not None:
        pairs, _ = ctx.security.access_rows(principal.name)
        roles = sorted({role for role, at in pairs if covers(at, scope)})
    body = {
        "name": principal.name,
        "kind": access.kind,
        "roles": roles,
        "can_apply": access.can("deploy:apply", scope),
    }
    return wire(body)


@router.get(f"{_ENV}/roles/{{principal}}")
def roles_at(request: Request, project: ProjectName, environment: ProjectName, principal: Name) -> Response:
    """The roles bound to ``principal`` (its groups' included) at a scope reaching the environment:
    what a promotion's four-eyes gate asks of the version's approver (an unknown name has none)."""
    return wire({"name": principal, "roles": list(_store(request).roles_at(project, environment, principal))})


@router.post(f"{_ENV}/promotions/evaluate")
def evaluate_promotion(
    request: Request, project: ProjectName, environment: ProjectName, body: PromotionEvaluateIn
) -> Response:
    """Judge every gate of promoting ``challenger`` into the service (experiment, four-eyes
    approval, monitors, model card, CI) from the server's stores and the server's prediction log
    (its ``$SHIPYARD_HOME/predictions``): ``ok`` and each gate's verdict, value and reason. It
    writes nothing; ``shipyard promote`` records the release. 404 when the service, the
    experiment or the challenger is not there; 400 when the challenger cannot replace the service
    (another signature) or was promoted already."""
    from shipyard.deploy.facts import StoreFacts
    from shipyard.deploy.promote import gates
    from shipyard.monitoring.logs import default_log_dir

    ctx, principal = ctx_of(request), principal_of(request)
    facts = StoreFacts(ctx.stores.metadata, ctx.delivery, principal.name)
    judged = gates(
        ctx.stores,
        facts,
        project,
        body.service,
        challenger=body.challenger,
        env=environment,
        log_dir=default_log_dir(ctx.settings.home),
    )
    return wire(judged.to_dict())


@router.get(f"{_ENV}/experiments/{{name}}/analysis")
def experiment_analysis(
    request: Request, project: ProjectName, environment: ProjectName, name: DeployName
) -> Response:
    """The analysis of experiment ``name`` (what ``shipyard experiment status`` shows: per metric
    and window both arms, the effect with its always-valid interval, the SRM check, guardrail
    breaches and the decision) from its first logged row to now, over the server's own prediction
    log (its ``$SHIPYARD_HOME/predictions``; no path is taken from the client). ``spec`` is the
    experiment as recorded; ``analysis`` is :meth:`ExperimentResult.to_dict`. Reading it needs what
    reading the experiment needs (``deploy:plan``); it writes nothing. 404 when the environment
    has no experiment of that name."""
    from shipyard.deploy import experiments as ex
    from shipyard.monitoring.logs import default_log_dir

    ctx = ctx_of(request)
    spec = ex.get_experiment(ctx.delivery, project, environment, name)
    result = ex.analyse(ctx.stores, name, spec, default_log_dir(ctx.settings.home))
    return wire({"spec": spec.model_dump(mode="json"), "analysis": result.to_dict()})


@router.get(f"{_ENV}/secret-names")
def secret_names(
    request: Request,
    project: ProjectName,
    environment: ProjectName,
    name: Annotated[list[SecretName], Query(max_length=200)],
) -> Response:
    """Which of the given secret names exist in the environment (names only, never values)."""
    present = _store(request).present_secrets(project, environment, name)
    return wire({"present": sorted(present)})


@router.get("/deploy/sync")
def list_syncs(
    request: Request,
    project: ProjectName | None = None,
    limit: _Limit = LIST_PAGE_DEFAULT,
    offset: _Offset = 0,
    after: _After = None,
) -> Response:
    """Sync statuses the caller may plan in, by project then environment, paged in the database
    like ``GET /deploy/environments``: keyset chunks of ``_SCAN`` filtered by ``deploy:plan``;
    ``after`` (``PROJECT/ENVIRONMENT``, the answer's ``next_after``) continues where a page
    ended; ``offset`` counts visible rows after it."""
    store = _store(request)
    return _plannable_page(
        request,
        "syncs",
        lambda cursor: store.list_syncs(project, limit=_SCAN, after=cursor),
        limit,
        offset,
        after,
    )


@router.get(f"{_ENV}/sync")
def get_sync(request: Request, project: ProjectName, environment: ProjectName) -> Response:
    return wire({"sync": _store(request).get_sync(project, environment)})


@router.put(f"{_ENV}/sync")
def record_sync(
    request: Request, project: ProjectName, environment: ProjectName, body: SyncReportIn
) -> Response:
    actions = principal_of(request).access.token_actions
    if release_refusal(actions, ["environment"], 0, {}) is not None:  # only an applier's loop reports
        raise PermissionDeniedError(
            f"a token with actions {', '.join(actions or ())} may not report sync status (needs apply)"
        )
    report = SyncReport(
        status=body.status,
        reason=body.reason,
        repo=body.repo,
        branch=body.branch,
        revision=body.revision,
        synced_revision=body.synced_revision,
        release=body.release,
        running_commit=body.running_commit,
        drift=tuple(d.model_dump() for d in body.drift),
        drifted=body.drifted,
    )
    status = _store(request).record_sync(project, environment, report, by=principal_of(request).name)
    return wire({"sync": status})


@router.post(f"{_ENV}/sync/hook")
def sync_hook(request: Request, project: ProjectName, environment: ProjectName) -> Response:
    """Wake the environment's sync loop (a push webhook); the request body is not read."""
    wake = _store(request).request_sync(project, environment, by=principal_of(request).name)
    return wire({"project": project, "environment": environment, "wake": wake})
