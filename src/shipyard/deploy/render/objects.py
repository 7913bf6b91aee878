"""Every object of one view of the spec (an environment's, after its overrides; or the base, the
spec as declared with no environment), in a stable order."""

from __future__ import annotations

from shipyard.deploy.render.environment import (
    external_secret,
    network_policies,
    secrets_read,
    settings_config_map,
)
from shipyard.deploy.render.kserve import inference_service_objects
from shipyard.deploy.render.options import RenderOptions
from shipyard.deploy.render.workload import Context, Obj, batch_objects, check_settings, service_objects
from shipyard.deploy.spec.models import Service, Spec

Key = tuple[str, str, str]  # (apiVersion, kind, name)


def key(obj: Obj) -> Key:
    return (str(obj["apiVersion"]), str(obj["kind"]), str(obj["metadata"]["name"]))


def view_objects(view: Spec, env_name: str | None, options: RenderOptions) -> dict[Key, Obj]:
    """``view``: ``for_environment(spec, env_name)``, or the spec itself for the base (``env_name`` None)."""
    environment = view.environments[env_name] if env_name is not None else None
    ctx = Context(view.project.name, env_name, environment, options)
    check_settings(ctx)
    objects: list[Obj] = [settings_config_map(ctx), *network_policies(ctx)]
    secret = external_secret(ctx, secrets_read(view, ctx))
    if secret is not None:
        objects.append(secret)
    for name, dep in sorted(view.deployments.items()):
        if not isinstance(dep, Service):
            objects += batch_objects(ctx, name, dep)
        elif options.serving == "kserve":
            objects += inference_service_objects(ctx, name, dep)
        else:
            objects += service_objects(ctx, name, dep)
    out: dict[Key, Obj] = {}
    for obj in objects:
        out[key(obj)] = obj
    return dict(sorted(out.items()))
