"""``--helm``: the same objects as a Helm chart, ``helm/<project>/``: ``values.yaml`` renders the
base, ``values-<env>.yaml`` an environment (``helm template -f values-<env>.yaml``), and
``templates/`` holds one file per object.

A template is the object as written, with each part that differs between the base and some
environment taken from the values instead: the deepest mapping key present in every version
(a container list, an autoscaler's spec, a ConfigMap's data), written with ``toJson`` (JSON is
YAML), so the chart renders exactly what the overlays build. An object that some environment
lacks is ``enabled: false`` there. A value the base has and an environment lacks is ``null`` in
that environment's file (Helm's way to delete a default). Text of the object itself that reads
``{{`` (a batch job's output URL, say) is written ``{{ "{{" }}``: Helm renders it as written
instead of running it as a template action.
"""

from __future__ import annotations

from typing import Any

from shipyard.deploy.render.files import HELM_HEADER, to_yaml
from shipyard.deploy.render.kustomize import diff, file_name
from shipyard.deploy.render.objects import Key
from shipyard.deploy.render.options import RenderOptions
from shipyard.deploy.render.workload import Obj
from shipyard.deploy.spec.models import Spec

_MARK = "__shipyard_helm_value_{}__"


def _split(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _stable(path: list[str], versions: list[Obj]) -> list[str]:
    """The longest prefix of ``path`` that is a chain of mapping keys in every version."""
    best: list[str] = []
    for i in range(1, len(path) + 1):
        prefix = path[:i]
        if all(_has(v, prefix) for v in versions):
            best = prefix
        else:
            break
    return best


def _has(obj: Any, path: list[str]) -> bool:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return False
        obj = obj[part]
    return True


def _get(obj: Any, path: list[str]) -> Any:
    for part in path:
        obj = obj[part]
    return obj


def _pointer(path: list[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def varying(source: Obj, versions: list[Obj]) -> list[list[str]]:
    """The paths whose values the chart takes from the values files (none nested in another)."""
    paths: set[tuple[str, ...]] = set()
    for version in versions:
        for op in diff(source, version):
            paths.add(tuple(_stable(_split(op["path"]), [source, *versions])))
    out = sorted(paths)
    return [list(p) for p in out if not any(p != q and p[: len(q)] == q for q in out)]


def _nulls(base: Any, env: Any) -> Any:
    """``env`` with ``None`` for every mapping key ``base`` has and ``env`` lacks."""
    if not isinstance(base, dict) or not isinstance(env, dict):
        return env
    out = {k: _nulls(base.get(k), v) for k, v in env.items()}
    out.update({k: None for k in base if k not in env})
    return out


def chart_files(
    spec: Spec, base: dict[Key, Obj], per_env: dict[str, dict[Key, Obj]], options: RenderOptions
) -> dict[str, str]:
    project = spec.project.name
    root = f"helm/{project}"
    keys = sorted(set(base).union(*per_env.values()))
    templates: dict[str, str] = {}
    values: dict[str, dict[str, Any]] = {"": {}, **{env: {} for env in per_env}}
    for k in keys:
        versions = [v[k] for v in (base, *per_env.values()) if k in v]
        source = versions[0]
        paths = varying(source, versions)  # never the root: apiVersion, kind and name are the key
        ident = file_name(k).removesuffix(".yaml")
        templates[f"{root}/templates/{file_name(k)}"] = _template(ident, source, paths)
        for env, objects in (("", base), *per_env.items()):
            obj = objects.get(k)
            entry: dict[str, Any] = {"enabled": obj is not None}
            if obj is not None and paths:
                entry["values"] = {_pointer(p): _get(obj, p) for p in paths}
            values[env][ident] = entry
    files = {
        f"{root}/Chart.yaml": to_yaml(
            {
                "apiVersion": "v2",
                "name": project,
                "description": f"{project}: rendered by shipyard from shipyard.yaml",
                "type": "application",
                "version": "0.1.0",
            }
        ),
        f"{root}/values.yaml": to_yaml({"objects": values[""]}),
    }
    for env in per_env:
        files[f"{root}/values-{env}.yaml"] = to_yaml({"objects": _nulls(values[""], values[env])})
    files.update(templates)
    return files


def _template(ident: str, source: Obj, paths: list[list[str]]) -> str:
    obj: Any = _copy(source)
    mark, text = _MARK, to_yaml(source, header=False)
    while mark.partition("{}")[0] in text:  # no text of the object's own is taken for a placeholder
        mark = "_" + mark
    obj["metadata"]["namespace"] = mark.format("ns")
    exprs = {mark.format("ns"): "{{ toJson .Release.Namespace }}"}
    for i, path in enumerate(paths):
        parent = _get(obj, path[:-1])
        parent[path[-1]] = mark.format(i)
        exprs[mark.format(i)] = f'{{{{ toJson (index $o.values "{_pointer(path)}") }}}}'
    # literal text, never an action: Go templates open an action at "{{" only
    body = to_yaml(obj, header=False).replace("{{", '{{ "{{" }}')
    for placeholder, expr in exprs.items():
        body = body.replace(placeholder, expr)
    return (
        HELM_HEADER
        + f'{{{{- $o := index .Values.objects "{ident}" }}}}\n'
        + "{{- if $o.enabled }}\n"
        + body
        + "{{- end }}\n"
    )


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
