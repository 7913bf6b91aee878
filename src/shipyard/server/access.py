"""Per-object authorization: the one place that decides whether a principal may act on a run, a
task, a model, a version or an alias, and where a new run may be written.

The guard calls :func:`check_object` for every route whose :class:`~shipyard.server.permissions.Rule`
names a resource (the object comes from the path); routes whose object comes from the request
body (recording an artifact, a task or lineage for a run; creating a run in a namespace) call
:func:`check_run` / :func:`check_namespace` with that value. Every decision is
:func:`shipyard.security.policy.may_change` plus the few rules of its own kind written here:

- a run belongs to its creator, at its namespace's scope (``project:NAME/...`` or the server);
- a model belongs to its creator, a version to whoever registered it, at the model's project
  (``project:NAME``) or the server when it has none; creating a model in a project, or
  registering a version of a project's model, needs ``model:write`` there (no ownership);
- a private project's models (their versions and aliases) answer 404 to whoever may not read
  there, on reads too (their reference profiles as well), and lists leave them out;
- approving needs ``model:approve`` at the model's scope and is refused for the version's own
  author (four eyes);
- a protected alias moves only with ``alias:set:protected``;
- a run goes into another user's namespace only with ``run:write:any``;
- a private project's runs (and their tasks and artifacts) answer 404 to whoever may not read
  there: server-wide grants stop at a private project unless they can manage users;
- a dataset is like a model: it belongs to its creator at its project's scope (or the server);
  a private project's datasets answer 404 to outsiders; a new version needs ``data:write`` there;
- a secret is read or written only with ``secret:read`` / ``secret:write`` at its project's
  environment (``project:P/env:E``) or a scope that covers it;
- an environment's delivery state is read with ``deploy:plan`` and changed with ``deploy:apply``
  at ``project:P/env:E`` (or a scope that covers it), like a secret.

An object that does not exist is not decided here: the route answers 404 itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.core.branches import branch_of_name
from shipyard.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from shipyard.secrets.base import secret_scope
from shipyard.security.policy import SERVER_SCOPE, Access, may_change, scope_of_namespace

if TYPE_CHECKING:
    from shipyard.metadata.datasets import Dataset
    from shipyard.metadata.model_registry import RegisteredModel
    from shipyard.server.app import ServerContext


def _deny(access: Access, what: str, why: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"{access.principal!r} may not change {what}: {why}")


_OWNERS_TTL_S = 60.0
_OWNERS_MAX = 10_000


def run_owner(ctx: ServerContext, run_id: str) -> tuple[str, str] | None:
    """(owner, namespace) of a run, or None when it does not exist. Both are fixed when the run is
    created, so they are kept a while (bounded; the delete route evicts) instead of loading the
    whole run for every metric batch."""
    import time

    now = time.monotonic()
    hit = ctx.run_owners.get(run_id)
    if hit is not None and now - hit[0] < _OWNERS_TTL_S:
        return hit[1], hit[2]
    try:
        run = ctx.stores.metadata.get_run(run_id)
    except NotFoundError:
        return None
    if len(ctx.run_owners) >= _OWNERS_MAX:
        ctx.run_owners.clear()
    ctx.run_owners[run_id] = (now, run.user, run.namespace)
    return run.user, run.namespace


def check_run(ctx: ServerContext, access: Access, permission: str, run_id: str) -> None:
    found = run_owner(ctx, run_id)
    if found is None:
        return
    owner, namespace = found
    scope = scope_of_namespace(namespace)
    if scope.split("/", 1)[0].removeprefix("project:") in access.hidden_projects():
        raise NotFoundError(f"run {run_id!r} not found")  # a private project's runs are invisible
    if permission == "run:read":
        return  # everything else is readable by anyone with run:read somewhere (the guard checked)
    why = may_change(access, permission, scope, owner)
    if why is not None:
        raise _deny(access, f"run {run_id}", why)


def check_task(ctx: ServerContext, access: Access, permission: str, task_id: str) -> None:
    try:
        task = ctx.stores.metadata.get_task(task_id)
    except NotFoundError:
        return
    check_run(ctx, access, permission, task.run_id)


def check_artifact(ctx: ServerContext, access: Access, permission: str, artifact_id: str) -> None:
    try:
        record = ctx.stores.metadata.get_artifact(artifact_id)
    except NotFoundError:
        return
    check_run(ctx, access, permission, record.run_id)


def check_namespace(access: Access, namespace: str) -> None:
    """May ``access`` create a run in ``namespace``?"""
    scope = scope_of_namespace(namespace)
    if not access.can("run:write", scope):
        hint = ""
        if access.token_actions is not None and access.token_scope is not None:  # a machine token
            project = access.token_scope.split("/", 1)[0]
            hint = f" (a machine token writes runs into its project: SHIPYARD_RUN_NAMESPACE={project})"
        raise PermissionDeniedError(lacks(access, "run:write", scope, hint))
    owner = namespace.removeprefix("user:") if namespace.startswith("user:") else None
    if owner is not None and owner != access.principal and not access.can("run:write:any", scope):
        raise PermissionDeniedError(
            f"{access.principal!r} may not write runs into {namespace!r}: it is another user's namespace "
            f"(that needs run:write:any); use your own, user:{access.principal}, or a project's"
        )


def lacks(access: Access, permission: str, scope: str, hint: str = "") -> str:
    """Why ``access`` cannot use ``permission`` at ``scope``, one line (acting on a branch says so)."""
    why = access.branch_refusal(permission, scope)
    if why is not None:
        return f"{access.principal!r}: {why}"
    where = "" if scope == SERVER_SCOPE else f" in {scope}"
    return f"{access.principal!r} lacks the {permission} permission{where}{hint}"


def object_scope(project: str | None, name: str) -> str:
    """Where a model or dataset named ``name`` of ``project`` lives: a branch's object
    (``NAME:branch:B``) at ``project:P/branch:B``, another at ``project:P``; none at the server."""
    if project is None:
        return SERVER_SCOPE
    branch = branch_of_name(name)
    return f"project:{project}" if branch is None else f"project:{project}/branch:{branch}"


def model_scope(model: RegisteredModel) -> str:
    """Where a model (its versions and aliases) lives: its project (or its branch), or the server."""
    return object_scope(model.project, model.name)


def _visible_model(ctx: ServerContext, access: Access, name: str) -> RegisteredModel | None:
    """The model, None when it does not exist (the route answers), NotFoundError when it belongs
    to a private project ``access`` may not see (such a model answers 404 like a missing one)."""
    try:
        model = ctx.registry.get_model(name)
    except NotFoundError:
        return None
    if model.project is not None and model.project in access.hidden_projects():
        raise NotFoundError(f"registered model {name!r} not found")
    return model


def check_model(ctx: ServerContext, access: Access, permission: str, name: str) -> None:
    model = _visible_model(ctx, access, name)
    if model is None or permission == "model:read":
        return  # readable by anyone with model:read somewhere who may see it (the guard checked)
    why = may_change(access, permission, model_scope(model), model.created_by)
    if why is not None:
        raise _deny(access, f"model {name!r}", why)


def check_model_create(access: Access, project: str | None, name: str = "") -> None:
    """May ``access`` create a model ``name`` in ``project`` (None: at the server scope)?"""
    scope = object_scope(project, name)
    if project is not None and project in access.hidden_projects():
        raise PermissionDeniedError(f"{access.principal!r} lacks the model:write permission in {scope}")
    if not access.can("model:write", scope):
        hint = "" if project is not None else "; name a project you may write models in (project=...)"
        raise PermissionDeniedError(lacks(access, "model:write", scope, hint))


def check_model_rename(ctx: ServerContext, access: Access, name: str, new_name: str) -> None:
    """May ``access`` rename the model ``name`` to ``new_name``? It needs what changing the model
    needs (model:write at its scope, with the ownership rules) and what creating ``new_name`` in
    the model's project needs; a rename keeps the model's branch (a branch's objects are named
    ``NAME:branch:B``)."""
    check_model(ctx, access, "model:write", name)
    model = ctx.registry.get_model(name)  # NotFoundError (404) when it does not exist
    if branch_of_name(new_name) != branch_of_name(name):
        raise InvalidInputError(
            f"renaming {name!r} to {new_name!r} would move it to another branch; a rename keeps the "
            "branch part of the name (NAME:branch:B)"
        )
    check_model_create(access, model.project, new_name)


def check_new_version(ctx: ServerContext, access: Access, name: str, project: str | None) -> None:
    """May ``access`` register a version of ``name``? Anyone with ``model:write`` at the model's
    scope may (no ownership); a version that creates its model is creating it in ``project``."""
    model = _visible_model(ctx, access, name)
    if model is None:
        check_model_create(access, project, name)
        return
    scope = model_scope(model)
    if not access.can("model:write", scope):
        raise PermissionDeniedError(lacks(access, "model:write", scope))


def check_version(ctx: ServerContext, access: Access, permission: str, name: str, version: str) -> None:
    model = _visible_model(ctx, access, name)
    if model is None or permission == "model:read":
        return
    try:
        found = ctx.registry.get_version(name, int(version))
    except (NotFoundError, ValueError):
        return
    what = f"{name} version {found.version}"
    scope = model_scope(model)
    if permission == "model:approve":
        if not access.can("model:approve", scope):
            why = may_change(access, permission, scope, None)
            raise _deny(access, what, why or "it lacks the model:approve permission")
        if found.created_by == access.principal:
            raise _deny(access, what, "a version's author may not approve it (four eyes); ask a maintainer")
        return
    why = may_change(access, permission, scope, found.created_by)
    if why is not None:
        raise _deny(access, what, why)


def check_alias(ctx: ServerContext, access: Access, permission: str, name: str, alias: str) -> None:
    model = _visible_model(ctx, access, name)
    if model is None:
        return
    scope = model_scope(model)
    why = may_change(access, permission, scope, model.created_by)
    protected = alias.casefold() in {a.casefold() for a in model.protected_aliases}
    if why is None and protected and not access.can("alias:set:protected", scope):
        why = f"alias {alias!r} is protected; moving it needs alias:set:protected" + (
            "" if scope == SERVER_SCOPE else f" in {scope}"
        )
    if why is not None:
        raise _deny(access, f"alias {alias!r} of model {name!r}", why)


def check_profile(ctx: ServerContext, access: Access, permission: str, name: str) -> None:
    """A model's monitoring records (reference profile, importance): a private project's model
    answers 404 to outsiders; a registered model's records are decided at its scope (no owner)."""
    model = _visible_model(ctx, access, name)
    if model is None:
        return  # profiles of names never registered: the guard's check is all
    scope = model_scope(model)
    if not access.can(permission, scope):
        where = "" if scope == SERVER_SCOPE else f" in {scope}"
        raise PermissionDeniedError(f"{access.principal!r} lacks the {permission} permission{where}")


def dataset_scope(dataset: Dataset) -> str:
    return object_scope(dataset.project, dataset.name)


def _visible_dataset(ctx: ServerContext, access: Access, name: str) -> Dataset | None:
    """The dataset, None when it does not exist, NotFoundError when it is a private project's
    that ``access`` may not see."""
    try:
        dataset = ctx.datasets.get_dataset(name)
    except NotFoundError:
        return None
    if dataset.project is not None and dataset.project in access.hidden_projects():
        raise NotFoundError(f"no dataset {name!r}")
    return dataset


def check_dataset(ctx: ServerContext, access: Access, permission: str, name: str) -> None:
    """Reads need data:read somewhere (the guard checked) and a visible dataset; changes need
    ``permission`` at the dataset's scope, and its ``:any`` form for another's dataset."""
    dataset = _visible_dataset(ctx, access, name)
    if dataset is None or permission == "data:read":
        return
    why = may_change(access, permission, dataset_scope(dataset), dataset.created_by)
    if why is not None:
        raise _deny(access, f"dataset {name!r}", why)


def check_new_dataset_version(ctx: ServerContext, access: Access, name: str, project: str | None) -> None:
    """Anyone with data:write at the dataset's scope adds versions; a first version creates the
    dataset in ``project`` (data:write there)."""
    dataset = _visible_dataset(ctx, access, name)
    if dataset is not None:
        scope = dataset_scope(dataset)
    else:
        scope = object_scope(project, name)
        if project is not None and project in access.hidden_projects():
            raise PermissionDeniedError(f"{access.principal!r} lacks the data:write permission in {scope}")
    if not access.can("data:write", scope):
        raise PermissionDeniedError(lacks(access, "data:write", scope))


def check_secret(access: Access, permission: str, project: str, environment: str) -> None:
    """Secrets are decided at ``project:P/env:E`` only (no owner): a binding at the server, the
    project or that environment grants ``permission``; anything else is refused. The path's names
    cannot hold '/', so the scope built from them is exactly the one the secret lives in."""
    scope = secret_scope(project, environment)
    if not access.can(permission, scope):
        raise PermissionDeniedError(lacks(access, permission, scope))


def check_environment(access: Access, permission: str, project: str, environment: str) -> None:
    """Delivery state is decided at ``project:P/env:E`` (no owner), like a secret; a branch's
    slot ``E--B`` is decided at ``project:P/env:E--B``, which a binding at ``project:P`` reaches."""
    scope = secret_scope(project, environment)
    if not access.can(permission, scope):
        raise PermissionDeniedError(lacks(access, permission, scope))


def check_branch(access: Access, permission: str, project: str, branch: str) -> None:
    """A branch is decided at ``project:P/branch:B`` (no owner); a private project's branches
    answer 404 to whoever may not see the project."""
    if project in access.hidden_projects():
        raise NotFoundError(f"project {project!r} has no branch {branch!r}")
    scope = f"project:{project}/branch:{branch}"
    if not access.can(permission, scope):
        raise PermissionDeniedError(lacks(access, permission, scope))


def check_object(
    ctx: ServerContext, access: Access, permission: str, resource: str, params: dict[str, str]
) -> None:
    """Dispatch on the rule's resource kind with the route's path parameters."""
    if resource == "run":
        check_run(ctx, access, permission, params["run_id"])
    elif resource == "task":
        check_task(ctx, access, permission, params["task_id"])
    elif resource == "artifact":
        check_artifact(ctx, access, permission, params["artifact_id"])
    elif resource == "model":
        check_model(ctx, access, permission, params["name"])
    elif resource == "version":
        check_version(ctx, access, permission, params["name"], params["version"])
    elif resource == "alias":
        check_alias(ctx, access, permission, params["name"], params["alias"])
    elif resource == "profile":
        check_profile(ctx, access, permission, params["model"])
    elif resource == "dataset":
        check_dataset(ctx, access, permission, params["name"])
    elif resource == "secret":
        check_secret(access, permission, params["project"], params["environment"])
    elif resource == "environment":
        check_environment(access, permission, params["project"], params["environment"])
    elif resource == "branch":
        check_branch(access, permission, params["project"], params["branch"])
    else:  # pragma: no cover - the table test keeps resources to the kinds above
        raise PermissionDeniedError(f"unknown resource kind {resource!r} in the permission table")
