"""What the render tests check rendered files with:

- :func:`build_overlay`: ``kustomize build`` of an overlay, re-implemented for exactly what the
  renderer writes (resources, namespace, JSON 6902 patches, ``$patch: delete``), and
  :func:`kubectl_kustomize`, the real one (``kubectl kustomize``) where kubectl is installed;
- :func:`validate_core`: the Kubernetes schemas of the ``kubernetes-validate`` package, strict
  (an unknown field fails);
- :func:`validate_crds`: Argo CD ``Application``, Prometheus Operator ``ServiceMonitor`` and
  external-secrets ``ExternalSecret`` against the validators the ``@kubernetes-models/*`` npm
  packages generate from those projects' published CRDs (installed once into ``.venvs/crd-models``;
  they check types, enums and required fields; CRD schemas allow unknown fields, so those do not);
- :func:`checkov`: checkov (in its own cached virtualenv ``.venvs/checkov``: its pins clash with
  ours) over a folder, its failed check ids per resource;
- :func:`helm_template`: ``helm lint --strict`` and ``helm template`` of a chart by Helm's own engine
  (``helm-python-sdk``: Helm's Go SDK through ctypes, in ``.venvs/helm``, run in a subprocess so the
  Go runtime stays out of the test process).
"""

from __future__ import annotations

import copy
import fcntl
import functools
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.services import require
from tests.tool_venvs import ToolUnavailable, ensure_venv

REPO = Path(__file__).resolve().parents[2]
K8S_VERSIONS = ("1.30", "1.37")
CHECKOV = "checkov==3.3.30"
HELM_SDK = "helm-python-sdk==0.2.2"  # Helm v4.2.3's Go SDK (libhelm_c), no helm binary
NPM_MODELS = {
    "@kubernetes-models/argo-cd": "4.0.0",
    "@kubernetes-models/prometheus-operator": "6.0.0",
    "@kubernetes-models/external-secrets": "2.0.0",
}
CRD_MODULES = {
    ("argoproj.io/v1alpha1", "Application"): "@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (
        "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor"
    ),
    ("external-secrets.io/v1", "ExternalSecret"): (
        "@kubernetes-models/external-secrets/external-secrets.io/v1/ExternalSecret"
    ),
}


# ---- kustomize ---------------------------------------------------------------------------------
def load_docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def build_overlay(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build folder`` gives, for the features the renderer uses."""
    kust = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert set(kust) <= {"apiVersion", "kind", "namespace", "resources", "patches"}, set(kust)
    objects: list[dict[str, Any]] = []
    for res in kust.get("resources", []):
        target = folder / res
        objects += build_overlay(target) if target.is_dir() else load_docs(target)
    for patch in kust.get("patches", []):
        assert set(patch) <= {"path", "target"}, patch
        body = load_docs(folder / patch["path"])
        if "target" not in patch:  # a strategic merge patch: only deletes here
            (doc,) = body
            assert doc.pop("$patch") == "delete", doc
            found = [o for o in objects if _gvkn(o) == _gvkn(doc)]
            assert len(found) == 1, f"{patch['path']}: no single {doc['kind']}/{doc['metadata']['name']}"
            objects.remove(found[0])
            continue
        (ops,) = body
        t = patch["target"]
        api = f"{t['group']}/{t['version']}" if "group" in t else t["version"]
        found = [o for o in objects if _gvkn(o) == (api, t["kind"], t["name"])]
        assert len(found) == 1, f"{patch['path']}: target {t} matches {len(found)} objects"
        objects[objects.index(found[0])] = json_patch(found[0], ops)
    if "namespace" in kust:
        for obj in objects:
            obj.setdefault("metadata", {})["namespace"] = kust["namespace"]
    return objects


def _gvkn(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]


def json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 add/replace/remove (what the renderer writes); a bad path raises."""
    out = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = out
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
        if op["op"] == "remove":
            del parent[last]
        elif op["op"] == "replace":
            assert (last < len(parent)) if isinstance(parent, list) else (last in parent), op["path"]
            parent[last] = copy.deepcopy(op["value"])
        elif op["op"] == "add":
            if isinstance(parent, list):
                parent.insert(last, copy.deepcopy(op["value"]))
            else:
                parent[last] = copy.deepcopy(op["value"])
        else:
            raise AssertionError(f"unexpected op {op}")
    return out


def kubectl_kustomize(folder: Path) -> list[dict[str, Any]] | None:
    """``kubectl kustomize folder`` (None where kubectl is not installed: an optional cross-check)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d is not None]


# ---- schemas -----------------------------------------------------------------------------------------
def validate_core(obj: dict[str, Any], versions: tuple[str, ...] = K8S_VERSIONS) -> None:
    import kubernetes_validate

    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            raise AssertionError(
                f"{obj['kind']}/{obj['metadata']['name']} (k8s {version}) at {where}: {exc.message}"
            ) from None


def _crd_models() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    require(
        node is not None and npm is not None, "node and npm are not installed (the CRD validators need them)"
    )
    folder = REPO / ".venvs" / "crd-models"
    marker = folder / (
        "installed-" + hashlib.sha256(json.dumps(NPM_MODELS, sort_keys=True).encode()).hexdigest()[:12]
    )
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / "crd-models.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be installing them
        if marker.exists():
            return folder
        pkgs = [f"{name}@{version}" for name, version in sorted(NPM_MODELS.items())]
        done = subprocess.run(
            [str(npm), "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder), *pkgs],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        require(done.returncode == 0, f"npm install of the CRD models failed: {done.stderr[-300:]}")
        marker.write_text("ok")
    return folder


def validate_crds(objects: list[dict[str, Any]]) -> dict[int, str]:
    """Validate each object with its CRD's model; returns {index: error} (empty: all valid).
    Every object must be of a kind in :data:`CRD_MODULES`."""
    folder = _crd_models()
    imports, cases = [], []
    for i, ((api, kind), module) in enumerate(sorted(CRD_MODULES.items())):
        imports.append(f'import {{ {kind} as M{i} }} from "{module}";')
        cases.append(f'if (o.apiVersion === "{api}" && o.kind === "{kind}") return new M{i}(o);')
    script = "\n".join(
        [
            *imports,
            'import { readFileSync } from "node:fs";',
            "function model(o) {",
            *cases,
            '  throw new Error("no model for " + o.apiVersion + " " + o.kind);',
            "}",
            'const docs = JSON.parse(readFileSync(0, "utf8"));',
            "const errors = {};",
            "docs.forEach((o, i) => {",
            "  try { model(o).validate(); } catch (e) { errors[i] = String(e.message || e); }",
            "});",
            "process.stdout.write(JSON.stringify(errors));",
        ]
    )
    path = folder / "validate.mjs"
    path.write_text(script)
    done = subprocess.run(
        [str(shutil.which("node")), str(path)],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    return {int(k): v for k, v in json.loads(done.stdout).items()}


# ---- checkov -------------------------------------------------------------------------------------
def _checkov_bin() -> Path:
    venv = REPO / ".venvs" / "checkov"
    try:
        ensure_venv(venv, [CHECKOV], timeout_s=900)
    except ToolUnavailable as exc:
        require(False, f"checkov could not be installed: {exc}")
    return venv / "bin" / "checkov"


def checkov(folder: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """checkov's kubernetes checks over ``folder``: (failed, passed), each resource -> check ids."""
    done = subprocess.run(
        [
            str(_checkov_bin()),
            "-d",
            str(folder),
            "--framework",
            "kubernetes",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(folder), "BC_SKIP_MAPPING": "TRUE"},
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    failed: dict[str, set[str]] = {}
    passed: dict[str, set[str]] = {}
    for rep in reports:
        assert rep["summary"]["parsing_errors"] == 0, rep["summary"]
        for check in rep["results"]["failed_checks"]:
            failed.setdefault(check["resource"], set()).add(check["check_id"])
        for check in rep["results"]["passed_checks"]:
            passed.setdefault(check["resource"], set()).add(check["check_id"])
    return failed, passed


# ---- helm ----------------------------------------------------------------------------------------------
@functools.cache
def _helm_python() -> Path:
    venv = REPO / ".venvs" / "helm"
    try:
        ensure_venv(venv, [HELM_SDK], timeout_s=900)
    except ToolUnavailable as exc:
        require(False, f"helm-python-sdk (Helm's Go SDK) could not be installed: {exc}")
    python = venv / "bin" / "python"
    done = subprocess.run(  # its wheel holds a native library: Linux x86_64 with glibc 2.28 or later
        [str(python), "-c", "import helm_python; print(helm_python.helm_sdk_version())"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    require(done.returncode == 0, f"{HELM_SDK} is installed but its libhelm_c does not load: {last}")
    return python


def helm_template(chart: Path, values_file: str | None, namespace: str) -> list[dict[str, Any]]:
    """``helm template fraud CHART -n NAMESPACE [-f VALUES_FILE]`` by Helm's own engine (the Go SDK,
    through ``helm-python-sdk`` in ``.venvs/helm``), after ``helm lint --strict`` with the same values
    for each of :data:`K8S_VERSIONS` found no warning and no error; the rendered objects."""
    request = {
        "chart": str(chart),
        "values_file": values_file,
        "namespace": namespace,
        "release": "fraud",
        "kube_versions": [f"v{v}.0" for v in K8S_VERSIONS],
    }
    done = subprocess.run(
        [str(_helm_python()), str(Path(__file__).with_name("helm_sdk_main.py")), json.dumps(request)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    for version, lint in report["lint"].items():
        problems = [m for m in lint["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
        assert not problems and not lint["errors"], f"helm lint ({version}): {problems or lint['errors']}"
    out: list[dict[str, Any]] = []
    for name, text in sorted(report["manifests"].items()):
        assert name.startswith(f"{chart.name}/templates/"), name
        out += [d for d in yaml.safe_load_all(text) if d is not None]
    return out
