"""What spans objects in a spec: references between its parts, each environment's view after its
overrides, and the environment's policies that a spec alone can judge (secrets, data, images,
compute). What needs the stores (a model or alias that exists, approvals) is the planner's.

Every problem is ``(location, message)``; the location is where the fix goes.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from shipyard.deploy.spec.models import (
    BatchJob,
    Environment,
    Resources,
    Service,
    Spec,
    secret_refs,
    size_bytes,
)

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]
OVERRIDABLE = ("deployments", "flows", "monitors")


def check(spec: Spec, data: Any) -> list[Problem]:
    problems: list[Problem] = []
    names = list(spec.environments)
    known = ", ".join(names)
    for name, dep in spec.deployments.items():
        for i, env in enumerate(dep.environments or []):
            if env not in spec.environments:
                problems.append(
                    (("deployments", name, "environments", i), f"unknown environment {env!r}; known: {known}")
                )
    for name, fl in spec.flows.items():
        if fl.environment is not None and fl.environment not in spec.environments:
            problems.append(
                (("flows", name, "environment"), f"unknown environment {fl.environment!r}; known: {known}")
            )
    for name, ex in spec.experiments.items():
        where = ("experiments", name)
        if ex.environment not in spec.environments:
            problems.append(
                ((*where, "environment"), f"unknown environment {ex.environment!r}; known: {known}")
            )
            continue
        served = spec.deployments.get(ex.deployment)
        if served is None or served.kind != "service" or ex.environment not in (served.environments or names):
            problems.append(
                ((*where, "deployment"), f"{ex.deployment!r} is not a service deployed to {ex.environment!r}")
            )
    for env_name, override in spec.overrides.items():
        problems += _override_shape(spec, env_name, override)
    if problems:  # the environments' views below need sound references
        return problems
    for env_name, environment in spec.environments.items():
        problems += _settings(env_name, environment)
    for env_name in names:
        try:
            view = for_environment(spec, env_name)
        except ValidationError as exc:
            problems += [_override_error(spec, env_name, err) for err in exc.errors()]
            continue
        problems += _policies(view, env_name, spec)
    return problems


def for_environment(spec: Spec, env: str) -> Spec:
    """The spec as environment ``env`` sees it: its overrides merged in, and only the deployments
    and flows that go there (ValidationError when the merged objects are not valid)."""
    base = spec.model_dump(mode="python", exclude_unset=False)
    merged = {key: _merge(base[key], spec.overrides.get(env, {}).get(key)) for key in OVERRIDABLE}
    merged["deployments"] = {
        name: dep
        for name, dep in merged["deployments"].items()
        if dep.get("environments") is None or env in dep["environments"]
    }
    merged["flows"] = {
        name: fl for name, fl in merged["flows"].items() if fl.get("environment") in (None, env)
    }
    merged["experiments"] = {
        name: ex for name, ex in base.get("experiments", {}).items() if ex.get("environment") == env
    }
    view = Spec.model_validate({**base, **merged, "overrides": {}})
    view._source = spec._source  # places stay those of the file (spec.load.place)
    return view


def _merge(base: Any, patch: Any) -> Any:
    """Mappings merge key by key, ``null`` removes a key, anything else replaces."""
    if patch is None:
        return copy.deepcopy(base)
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _override_shape(spec: Spec, env: str, override: dict[str, Any]) -> list[Problem]:
    at: Loc = ("overrides", env)
    if env not in spec.environments:
        return [(at, f"unknown environment {env!r}; known: {', '.join(spec.environments)}")]
    problems: list[Problem] = []
    for key, value in override.items():
        if key not in OVERRIDABLE:
            problems.append(((*at, key), f"unknown key; allowed: {', '.join(OVERRIDABLE)}"))
        elif not isinstance(value, dict):
            problems.append(((*at, key), "must be a mapping of names to the keys that change"))
        elif key == "deployments":
            problems += [
                ((*at, key, name), f"no deployment {name!r} to override; add it under deployments first")
                for name, patch in value.items()
                if name not in spec.deployments and not (isinstance(patch, dict) and "model" in patch)
            ]
    return problems


def _override_error(spec: Spec, env: str, err: Any) -> Problem:
    loc = tuple(p for p in err["loc"] if p not in ("service", "batch"))
    patch = spec.overrides.get(env, {})
    cur: Any = patch
    for part in loc:
        if not isinstance(cur, dict) or part not in cur:
            break
        cur = cur[part]
    else:
        loc = ("overrides", env, *loc)
    message = str(err["msg"]).removeprefix("Value error, ")
    return loc, f"in environment {env!r} after its overrides: {message}"


def _settings(env_name: str, env: Environment) -> list[Problem]:
    allowed = set(env.policies.secrets)
    problems: list[Problem] = []
    for key, value in env.settings.items():
        for name in secret_refs(value):
            if name not in allowed:
                problems.append(
                    (
                        ("environments", env_name, "settings", key),
                        f"environment {env_name!r} may not read secret {name!r}; add it to "
                        f"environments.{env_name}.policies.secrets",
                    )
                )
    return problems


def _policies(view: Spec, env_name: str, spec: Spec) -> list[Problem]:
    env = view.environments[env_name]
    pol = env.policies
    problems: list[Problem] = []
    for name, dep in view.deployments.items():
        at: Loc = ("deployments", name)
        for secret in dep.secrets:
            if secret not in pol.secrets:
                problems.append(
                    (
                        (*at, "secrets"),
                        f"environment {env_name!r} may not read secret {secret!r}; add it to "
                        f"environments.{env_name}.policies.secrets",
                    )
                )
        if dep.image and pol.images.registries and not _registry_allowed(dep.image, pol.images.registries):
            problems.append(
                (
                    (*at, "image"),
                    f"image {dep.image!r} is not from a registry environment {env_name!r} allows "
                    f"({', '.join(pol.images.registries)})",
                )
            )
        if isinstance(dep, Service):
            for view_name in dep.features:
                if view_name not in pol.data.feature_views:
                    problems.append(
                        (
                            (*at, "features"),
                            f"environment {env_name!r} may not read feature view {view_name!r}; add it to "
                            f"environments.{env_name}.policies.data.feature_views",
                        )
                    )
        if isinstance(dep, BatchJob):
            dataset = dep.input.removeprefix("datasets:/").split("/")[0].split("@")[0]
            if dataset not in pol.data.datasets:
                problems.append(
                    (
                        (*at, "input"),
                        f"environment {env_name!r} may not read dataset {dataset!r}; add it to "
                        f"environments.{env_name}.policies.data.datasets",
                    )
                )
        problems += [
            ((*at, "resources", k), m) for k, m in _fits(dep.resources, pol.compute.deployment, env_name)
        ]
    return problems


def _registry_allowed(image: str, registries: list[str]) -> bool:
    return any(image == r or image.startswith(r.rstrip("/") + "/") for r in registries)


def _fits(asked: Resources, limit: Resources, env_name: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if asked.cpu is not None and limit.cpu is not None and asked.cpu > limit.cpu:
        out.append(("cpu", f"cpu {asked.cpu:g} is above environment {env_name!r}'s limit of {limit.cpu:g}"))
    if asked.gpu is not None and limit.gpu is not None and asked.gpu > limit.gpu:
        out.append(("gpu", f"gpu {asked.gpu} is above environment {env_name!r}'s limit of {limit.gpu}"))
    if asked.memory and limit.memory and size_bytes(asked.memory) > size_bytes(limit.memory):
        out.append(
            ("memory", f"memory {asked.memory} is above environment {env_name!r}'s limit of {limit.memory}")
        )
    return out
