"""Kustomize: ``base/`` holds the objects of the spec as declared (no environment), and
``overlays/<env>/`` turns them into an environment's: its namespace, and for each object that
differs, a JSON 6902 patch with exactly the fields that differ (``patches/<name>.<kind>.yaml``);
objects only the environment has (its ExternalSecret, a deployment its overrides add) are its own
resources, and base objects it does not have (a deployment for other environments) are deleted.

The patches are computed, not hand-written: mappings are compared key by key, a list that
differs is replaced whole (a container's args) unless it is a list of named mappings with the
same names in the same order (containers, env), compared element by element; so a one-field
change in the spec is a one-operation change in one patch file.
"""

from __future__ import annotations

from typing import Any

from shipyard.deploy.render.objects import Key
from shipyard.deploy.render.workload import Obj

KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}


def file_name(k: Key) -> str:
    return f"{k[2]}.{k[1].lower()}.yaml"


def pointer(path: list[str]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def diff(base: Any, target: Any, path: list[str] | None = None) -> list[dict[str, Any]]:
    """JSON 6902 operations that turn ``base`` into ``target`` (mappings key by key; lists and
    scalars replaced whole), in a stable order."""
    path = path or []
    if isinstance(base, dict) and isinstance(target, dict):
        ops: list[dict[str, Any]] = []
        for k in sorted(set(base) | set(target)):
            if k not in target:
                ops.append({"op": "remove", "path": pointer([*path, k])})
            elif k not in base:
                ops.append({"op": "add", "path": pointer([*path, k]), "value": target[k]})
            else:
                ops += diff(base[k], target[k], [*path, k])
        return ops
    if _same_names(base, target):  # containers, env...: element by element
        return [
            op
            for i, (b, t) in enumerate(zip(base, target, strict=True))
            for op in diff(b, t, [*path, str(i)])
        ]
    if base == target and type(base) is type(target):
        return []
    return [{"op": "replace", "path": pointer(path), "value": target}]


def _same_names(base: Any, target: Any) -> bool:
    """Two lists of named mappings with the same names in the same order."""
    if not isinstance(base, list) or not isinstance(target, list) or len(base) != len(target) or not base:
        return False
    names = [
        (b.get("name"), t.get("name"))
        for b, t in zip(base, target, strict=True)
        if isinstance(b, dict) and isinstance(t, dict)
    ]
    return len(names) == len(base) and all(b is not None and b == t for b, t in names)


def target(k: Key) -> dict[str, str]:
    group, _, version = k[0].rpartition("/")
    out = {"version": version, "kind": k[1], "name": k[2]}
    if group:
        out["group"] = group
    return out


def base_files(objects: dict[Key, Obj]) -> dict[str, Any]:
    files: dict[str, Any] = {file_name(k): obj for k, obj in objects.items()}
    files["kustomization.yaml"] = {**KUSTOMIZATION, "resources": [file_name(k) for k in objects]}
    return {f"base/{name}": doc for name, doc in files.items()}


def overlay_files(env: str, namespace: str, base: dict[Key, Obj], objects: dict[Key, Obj]) -> dict[str, Any]:
    """``overlays/<env>/``: the files (as documents) that make ``base`` into ``objects``."""
    files: dict[str, Any] = {}
    resources = ["../../base"]
    patches: list[dict[str, Any]] = []
    for k in sorted(set(base) | set(objects)):
        if k not in objects:
            name = f"patches/{k[2]}.{k[1].lower()}.delete.yaml"
            files[name] = {"apiVersion": k[0], "kind": k[1], "metadata": {"name": k[2]}, "$patch": "delete"}
            patches.append({"path": name})
        elif k not in base:
            files[file_name(k)] = objects[k]
            resources.append(file_name(k))
        else:
            ops = diff(base[k], objects[k])
            if ops:
                name = f"patches/{file_name(k)}"
                files[name] = ops
                patches.append({"path": name, "target": target(k)})
    kustomization: dict[str, Any] = {**KUSTOMIZATION, "namespace": namespace, "resources": resources}
    if patches:
        kustomization["patches"] = patches
    files["kustomization.yaml"] = kustomization
    return {f"overlays/{env}/{name}": doc for name, doc in files.items()}
