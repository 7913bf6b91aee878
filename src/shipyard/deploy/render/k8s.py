"""``shipyard render k8s``: a spec as the files a GitOps repository holds, deterministic (the same
spec renders byte-identical files, so a diff in git is exactly what changed)::

    base/                       the spec's objects as declared, no namespace (kustomization.yaml)
    overlays/<env>/             namespace <project>-<env>, patches, the environment's own objects
    argocd/<env>.application.yaml   with --repo-url: an Argo CD Application per environment
    helm/<project>/             with --helm: a chart, values-<env>.yaml per environment
"""

from __future__ import annotations

from pydantic import ValidationError

from shipyard.core.errors import InvalidInputError
from shipyard.deploy.render import argocd, kustomize
from shipyard.deploy.render.files import to_yaml
from shipyard.deploy.render.objects import Key, view_objects
from shipyard.deploy.render.options import RenderOptions
from shipyard.deploy.render.workload import Obj
from shipyard.deploy.spec.models import Spec
from shipyard.deploy.spec.rules import for_environment
from shipyard.exporters.k8s import dns_label


def namespace_for(project: str, env: str) -> str:
    return dns_label(f"{project}-{env}")


def environment_objects(spec: Spec, env: str, options: RenderOptions) -> dict[Key, Obj]:
    """Every object environment ``env`` runs (what its overlay builds to, namespace aside)."""
    if env not in spec.environments:
        raise InvalidInputError(f"no environment {env!r} in the spec; known: {', '.join(spec.environments)}")
    try:
        view = for_environment(spec, env)
    except ValidationError as exc:
        raise InvalidInputError(
            f"environment {env!r} after its overrides is not valid: {exc.errors()[0]['msg']}"
        ) from None
    return view_objects(view, env, options)


def owned(envs: list[str] | None) -> tuple[str, ...]:
    """The paths a render of ``envs`` (None: every environment) owns, for :func:`files.write`."""
    if not envs:
        return ("base/", "overlays/", "argocd/", "helm/")
    return (
        "base/",
        "helm/",
        *(f"overlays/{e}/" for e in envs),
        *(f"argocd/{e}.application.yaml" for e in envs),
    )


def render_k8s(spec: Spec, envs: list[str] | None, options: RenderOptions) -> dict[str, str]:
    """The files (relative path -> text) for environments ``envs`` (None: every one); the Helm
    chart always covers every environment (its templates vary where any of them differs)."""
    options.check()
    names = list(spec.environments) if not envs else list(dict.fromkeys(envs))
    project = spec.project.name
    per_env = {env: environment_objects(spec, env, options) for env in names}
    if options.helm:
        every = {
            env: per_env.get(env) or environment_objects(spec, env, options) for env in spec.environments
        }
    base = view_objects(spec, None, options)
    docs: dict[str, object] = {**kustomize.base_files(base)}
    for env in names:
        docs.update(kustomize.overlay_files(env, namespace_for(project, env), base, per_env[env]))
        if options.repo_url is not None:
            app = argocd.application(project, env, namespace_for(project, env), options)
            docs[f"argocd/{env}.application.yaml"] = app
    files = {path: to_yaml(doc) for path, doc in docs.items()}
    if options.helm:
        from shipyard.deploy.render.helm import chart_files

        files.update(chart_files(spec, base, every, options))
    return dict(sorted(files.items()))
