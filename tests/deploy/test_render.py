"""`shipyard render k8s`: each overlay builds (by kustomize's rules, and by kubectl kustomize where
installed) to exactly the environment's objects; every core manifest is valid against the
Kubernetes schemas (kubernetes-validate, strict), the CRDs against their projects' published
schemas; checkov passes its workload checks; real Helm (its Go SDK) lints the chart and renders
each environment's objects from it; the render is byte-for-byte deterministic and a one-field spec
change is a one-line diff; bad input is one line."""

from __future__ import annotations

import difflib
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.cli.main import main
from shipyard.core.errors import InvalidInputError
from shipyard.deploy.render.files import HEADER, HELM_HEADER, write
from shipyard.deploy.render.k8s import environment_objects, namespace_for, owned, render_k8s
from shipyard.deploy.render.options import RenderOptions
from shipyard.deploy.spec.load import load_spec
from shipyard.deploy.spec.models import Spec
from tests.deploy.render_tools import (
    CRD_MODULES,
    build_overlay,
    checkov,
    helm_template,
    kubectl_kustomize,
    load_docs,
    validate_core,
    validate_crds,
)

IMAGE = "ghcr.io/acme/fraud@sha256:" + "a" * 64
SPEC = textwrap.dedent(
    f"""\
    project:
      name: fraud
    environments:
      staging:
        policies:
          secrets: [db]
          data: {{feature_views: [customer], datasets: [transactions]}}
      production:
        namespace: prod
        policies:
          compute: {{deployment: {{cpu: 4, memory: 8Gi, gpu: 2}}}}
          images: {{registries: [ghcr.io/acme]}}
          secrets: [db, api_key]
          data: {{feature_views: [customer], datasets: [transactions]}}
        settings:
          DB_URL: "postgresql://app:${{secret:db}}@db/fraud"
          API_KEY: "${{secret:api_key}}"
          LOG_LEVEL: info
    deployments:
      api:
        model: models:/fraud@champion
        image: "{IMAGE}"
        replicas: 2
        resources: {{cpu: 1, memory: 2Gi}}
        routes:
          - {{model: "models:/fraud@challenger", weight: 10}}
          - {{model: "models:/fraud/7", mode: shadow}}
        features: [customer]
        secrets: [db]
      nightly:
        kind: batch
        model: models:/fraud/3
        image: "{IMAGE}"
        input: datasets:/transactions@latest
        output: s3://acme/scores/
        schedule: "0 2 * * *"
        environments: [production]
      backfill:
        kind: batch
        model: models:/fraud/3
        image: "{IMAGE}"
        input: datasets:/transactions@latest
        output: s3://acme/backfill/
    overrides:
      production:
        deployments:
          api:
            autoscaling: {{min_replicas: 2, max_replicas: 6, target_cpu: 60}}
            resources: {{gpu: 1}}
    """
)
ARGO = {"repo_url": "https://git.example/acme/fraud.git", "secret_store": "vault"}
CORE = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    return load_spec(tmp_path / "shipyard.yaml")


def rendered(spec: Spec, out: Path, **options: Any) -> dict[str, str]:
    files = render_k8s(spec, None, RenderOptions(**{**ARGO, **options}))
    write(files, out)
    return files


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(o["apiVersion"], o["kind"], o["metadata"]["name"]): o for o in objects}


def expected(spec: Spec, env: str, options: RenderOptions) -> dict[tuple[str, str, str], dict[str, Any]]:
    out = {}
    for k, obj in environment_objects(spec, env, options).items():
        out[k] = {**obj, "metadata": {**obj["metadata"], "namespace": namespace_for("fraud", env)}}
    return out


# ---- overlays build to the environment's objects ---------------------------------------------------------
@pytest.mark.parametrize("serving", ["deployment", "kserve"])
def test_each_overlay_builds_to_exactly_the_environments_objects(
    spec: Spec, tmp_path: Path, serving: str
) -> None:
    options = RenderOptions(**ARGO, serving=serving)  # type: ignore[arg-type]
    rendered(spec, tmp_path / "out", serving=serving)
    for env in ("staging", "production"):
        want = expected(spec, env, options)
        assert by_key(build_overlay(tmp_path / "out" / "overlays" / env)) == want
        real = kubectl_kustomize(tmp_path / "out" / "overlays" / env)
        if real is not None:  # the real kustomize agrees
            assert by_key(real) == want
    staging = expected(spec, "staging", options)
    production = expected(spec, "production", options)
    # the base holds what every environment shares; each overlay only what differs
    assert ("batch/v1", "CronJob", "nightly") in production and (
        "batch/v1",
        "CronJob",
        "nightly",
    ) not in staging
    assert ("external-secrets.io/v1", "ExternalSecret", "fraud-secrets") in staging
    if serving == "deployment":
        assert ("autoscaling/v2", "HorizontalPodAutoscaler", "api") in production
        assert ("autoscaling/v2", "HorizontalPodAutoscaler", "api") not in staging


@pytest.mark.parametrize("serving", ["deployment", "kserve"])
def test_the_helm_chart_renders_what_the_overlays_build(spec: Spec, tmp_path: Path, serving: str) -> None:
    options = RenderOptions(**ARGO, serving=serving)  # type: ignore[arg-type]
    rendered(spec, tmp_path / "out", serving=serving, helm=True)
    chart = tmp_path / "out" / "helm" / "fraud"
    for env in ("staging", "production"):
        got = helm_template(chart, f"values-{env}.yaml", namespace_for("fraud", env))
        assert by_key(got) == expected(spec, env, options)
        for obj in got:
            if obj["apiVersion"] in CORE:
                validate_core(obj)
    # values.yaml alone renders the base (with the release's namespace)
    base = by_key(helm_template(chart, None, "x"))
    for k, obj in base.items():
        assert {
            **obj,
            "metadata": {k: v for k, v in obj["metadata"].items() if k != "namespace"},
        } == load_docs(tmp_path / "out" / "base" / f"{k[2]}.{k[1].lower()}.yaml")[0]


def test_chart_text_that_reads_like_a_template_action_renders_as_written(tmp_path: Path) -> None:
    # one environment and nothing it changes: the batch job's container (its output URL) is template
    # text, not a value; Helm must neither run "{{ ... }}" nor take the text for a placeholder
    output = "s3://acme/{{ .Release.Name }}/x}}y{{/__shipyard_helm_value_ns__/__shipyard_helm_value_0__"
    doc = {
        "project": {"name": "fraud"},
        "environments": {"staging": {"policies": {"data": {"datasets": ["transactions"]}}}},
        "deployments": {
            "backfill": {
                "kind": "batch",
                "model": "models:/fraud/3",
                "image": IMAGE,
                "input": "datasets:/transactions@latest",
                "output": output,
            }
        },
    }
    (tmp_path / "shipyard.yaml").write_text(yaml.safe_dump(doc))
    spec = load_spec(tmp_path / "shipyard.yaml")
    rendered(spec, tmp_path / "out", helm=True)
    template = (tmp_path / "out" / "helm" / "fraud" / "templates" / "backfill.cronjob.yaml").read_text()
    assert "s3://acme/" in template  # the URL is in the template itself, not a value
    got = by_key(helm_template(tmp_path / "out" / "helm" / "fraud", "values-staging.yaml", "fraud-staging"))
    assert got == expected(spec, "staging", RenderOptions(**ARGO))
    job = got[("batch/v1", "CronJob", "backfill")]["spec"]["jobTemplate"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    assert output in container["args"]


def test_strings_a_go_yaml_reader_would_take_for_numbers_or_booleans_stay_strings(tmp_path: Path) -> None:
    # PyYAML writes these plain; Helm's (and kustomize's) YAML reads 1e3 as 1000, 0o17 as 15, y as true
    settings = {"LOG_LEVEL": "1e3", "A": "0o17", "B": "y", "C": "-2.5E-3", "D": "N"}
    lines = "\n".join(f'      {k}: "{v}"' for k, v in settings.items())
    (tmp_path / "shipyard.yaml").write_text(SPEC.replace("      LOG_LEVEL: info", lines))
    spec = load_spec(tmp_path / "shipyard.yaml")
    rendered(spec, tmp_path / "out", helm=True)
    chart = tmp_path / "out" / "helm" / "fraud"
    got = by_key(helm_template(chart, "values-production.yaml", namespace_for("fraud", "production")))
    assert got == expected(spec, "production", RenderOptions(**ARGO))
    data = got[("v1", "ConfigMap", "fraud-settings")]["data"]
    assert {k: data[k] for k in settings} == settings


def test_a_deployment_runs_shipyard_serve_hardened_with_its_probes_resources_and_routes(spec: Spec) -> None:
    options = RenderOptions(**ARGO)
    prod = expected(spec, "production", options)
    staging = expected(spec, "staging", options)
    dep = prod[("apps/v1", "Deployment", "api")]
    assert "replicas" not in dep["spec"]  # the autoscaler owns it
    assert staging[("apps/v1", "Deployment", "api")]["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == IMAGE
    assert c["command"] == ["shipyard"]
    args = c["args"]
    assert args[:2] == ["serve", "models:/fraud@champion"]
    assert " ".join(args).count("--route") == 2
    assert "champion=90" in args and "challenger=10" in args
    assert args[args.index("--shadow") + 1] == "7"
    assert args[args.index("--features") + 1] == "customer"
    assert args[args.index("--port") + 1] == "8000"
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}
    assert c["resources"]["requests"] == c["resources"]["limits"]
    assert (
        "nvidia.com/gpu"
        not in staging[("apps/v1", "Deployment", "api")]["spec"]["template"]["spec"]["containers"][0][
            "resources"
        ]["limits"]
    )
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["automountServiceAccountToken"] is False
    hpa = prod[("autoscaling/v2", "HorizontalPodAutoscaler", "api")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    # settings: plain values in the ConfigMap, secrets only as references
    data = prod[("v1", "ConfigMap", "fraud-settings")]["data"]
    assert data["LOG_LEVEL"] == "info" and data["SHIPYARD_ENVIRONMENT"] == "production"
    assert data["SHIPYARD_NAMESPACE"] == "prod"
    assert "DB_URL" not in data and "API_KEY" not in data
    env = {e["name"]: e for e in c["env"]}
    assert env["API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "fraud-secrets", "key": "api_key"}
    assert env["DB_URL"]["value"] == "postgresql://app:$(SHIPYARD_SECRET_DB)@db/fraud"
    names = [e["name"] for e in c["env"]]
    assert names.index("SHIPYARD_SECRET_DB") < names.index("DB_URL")  # $(VAR) needs it defined before
    remote = prod[("external-secrets.io/v1", "ExternalSecret", "fraud-secrets")]["spec"]["data"]
    assert [d["remoteRef"]["key"] for d in remote] == ["fraud/production/api_key", "fraud/production/db"]
    assert not any(k[1] == "Secret" for k in prod)  # never a Secret with values
    # the suspended CronJob of a job without a schedule; nightly's schedule
    assert staging[("batch/v1", "CronJob", "backfill")]["spec"]["suspend"] is True
    assert prod[("batch/v1", "CronJob", "nightly")]["spec"]["schedule"] == "0 2 * * *"
    policy = prod[("networking.k8s.io/v1", "NetworkPolicy", "api-ingress")]["spec"]["ingress"][0]["from"]
    assert {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in policy} == {
        "ingress-nginx",
        "monitoring",
    }


# ---- schemas -----------------------------------------------------------------------------------------------
def _all_built(spec: Spec, tmp_path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for serving in ("deployment", "kserve"):
        root = tmp_path / serving
        rendered(spec, root, serving=serving)
        for env in ("staging", "production"):
            out += build_overlay(root / "overlays" / env)
        for path in sorted((root / "base").glob("*.yaml")):
            if path.name != "kustomization.yaml":
                out += load_docs(path)
        for path in sorted((root / "argocd").glob("*.yaml")):
            out += load_docs(path)
    return out


def test_every_core_manifest_is_valid_against_the_kubernetes_schemas(spec: Spec, tmp_path: Path) -> None:
    objects = _all_built(spec, tmp_path)
    core = [o for o in objects if o["apiVersion"] in CORE]
    kinds = {o["kind"] for o in core}
    assert kinds == {
        "ConfigMap",
        "CronJob",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
    }
    for obj in core:
        validate_core(obj)
    with pytest.raises(AssertionError, match="runAsNonRot"):  # the validator is strict
        bad = next(o for o in core if o["kind"] == "Deployment")
        bad["spec"]["template"]["spec"]["securityContext"]["runAsNonRot"] = True
        validate_core(bad)


def test_the_crds_are_valid_against_their_published_schemas(spec: Spec, tmp_path: Path) -> None:
    objects = _all_built(spec, tmp_path)
    crds = [o for o in objects if (o["apiVersion"], o["kind"]) in CRD_MODULES]
    assert {o["kind"] for o in crds} == {"Application", "ExternalSecret", "ServiceMonitor"}
    assert validate_crds(crds) == {}
    # the validators bite: a wrong type and a missing required field are refused
    app = next(o for o in crds if o["kind"] == "Application")
    bad_app = {**app, "spec": {**app["spec"], "syncPolicy": {"automated": {"prune": "yes"}}}}
    monitor = next(o for o in crds if o["kind"] == "ServiceMonitor")
    bad_monitor = {**monitor, "spec": {k: v for k, v in monitor["spec"].items() if k != "selector"}}
    secret = next(o for o in crds if o["kind"] == "ExternalSecret")
    bad_secret = {**secret, "spec": {**secret["spec"], "data": [{"secretKey": "db"}]}}
    errors = validate_crds([bad_app, bad_monitor, bad_secret])
    assert set(errors) == {0, 1, 2}, errors


def test_an_inference_service_runs_the_same_hardened_container(spec: Spec, tmp_path: Path) -> None:
    """KServe publishes no schema package on the registries this project uses: the InferenceService's
    required fields are checked here from KServe's API reference, and its predictor's pod fields
    (containers, volumes, security) against the core PodSpec schema."""
    options = RenderOptions(**ARGO, serving="kserve")
    prod = expected(spec, "production", options)
    assert not any(k[1] in ("Deployment", "Service", "HorizontalPodAutoscaler") for k in prod)
    isvc = prod[("serving.kserve.io/v1beta1", "InferenceService", "api")]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    predictor = dict(isvc["spec"]["predictor"])
    assert set(isvc["spec"]) == {"predictor"}
    assert (predictor.pop("minReplicas"), predictor.pop("maxReplicas")) == (2, 6)
    assert (predictor.pop("scaleMetric"), predictor.pop("scaleTarget")) == ("cpu", 60)
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"
    assert container["args"][:2] == ["serve", "models:/fraud@champion"]
    validate_core({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api"}, "spec": predictor})
    staging = expected(spec, "staging", options)[("serving.kserve.io/v1beta1", "InferenceService", "api")]
    assert (staging["spec"]["predictor"]["minReplicas"], staging["spec"]["predictor"]["maxReplicas"]) == (
        2,
        2,
    )
    pods = prod[("networking.k8s.io/v1", "NetworkPolicy", "api-ingress")]["spec"]["podSelector"]
    assert pods == {"matchLabels": {"serving.kserve.io/inferenceservice": "api"}}


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_checkov_passes_the_workload_checks(spec: Spec, tmp_path: Path) -> None:
    """checkov's kubernetes checks over every built overlay. Without a Prisma Cloud key checkov
    gives no severities, so the checks are named: all pass except CKV_K8S_35 (secrets as files,
    not variables: shipyard reads its settings and secrets from the environment by design)."""
    built = tmp_path / "built"
    built.mkdir()
    root = tmp_path / "out"
    rendered(spec, root)
    for env in ("staging", "production"):
        docs = build_overlay(root / "overlays" / env)
        (built / f"{env}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=True))
    failed, passed = checkov(built)
    allowed = {"CKV_K8S_35"}
    assert {r: ids - allowed for r, ids in failed.items() if ids - allowed} == {}
    must = {
        "CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13",  # cpu / memory requests and limits
        "CKV_K8S_14", "CKV_K8S_43",  # image tag not latest; image by digest
        "CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_22",  # not privileged, no escalation, read-only root fs
        "CKV_K8S_23", "CKV_K8S_40",  # non-root, a high uid
        "CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_31",  # capabilities dropped, seccomp
        "CKV_K8S_38", "CKV_K8S_21",  # no service-account token, not the default namespace
    }  # fmt: skip
    for resource in ("Deployment.fraud-production.api", "CronJob.fraud-production.nightly"):
        assert must <= passed[resource], must - passed[resource]
    assert {"CKV_K8S_8", "CKV_K8S_9"} <= passed["Deployment.fraud-production.api"]  # liveness, readiness
    # and checkov does catch the opposite: a writable root file system as root
    bad = build_overlay(root / "overlays" / "staging")
    for obj in bad:
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = (
                False
            )
    (built / "staging.yaml").write_text(yaml.safe_dump_all(bad, sort_keys=True))
    failed, _ = checkov(built)
    assert "CKV_K8S_22" in failed["Deployment.fraud-staging.api"]


# ---- determinism -------------------------------------------------------------------------------------------
def test_the_render_is_deterministic_and_a_one_field_change_is_a_one_line_diff(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    first = render_k8s(load_spec(tmp_path / "shipyard.yaml"), None, RenderOptions(**ARGO, helm=True))
    again = render_k8s(load_spec(tmp_path / "shipyard.yaml"), None, RenderOptions(**ARGO, helm=True))
    assert first == again and all(t.startswith((HEADER, HELM_HEADER)) for t in first.values())
    assert write(first, tmp_path / "out") == (len(first), 0)
    assert write(again, tmp_path / "out") == (0, 0)  # nothing to rewrite
    (tmp_path / "shipyard.yaml").write_text(SPEC.replace("replicas: 2\n", "replicas: 3\n", 1))
    changed = render_k8s(load_spec(tmp_path / "shipyard.yaml"), None, RenderOptions(**ARGO, helm=True))
    differ = {p for p in first if first[p] != changed[p]}
    assert differ == {"base/api.deployment.yaml", "helm/fraud/values.yaml", "helm/fraud/values-staging.yaml"}
    lines = [
        line
        for line in difflib.unified_diff(
            first["base/api.deployment.yaml"].splitlines(),
            changed["base/api.deployment.yaml"].splitlines(),
            n=0,
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert lines == ["-  replicas: 2", "+  replicas: 3"]


def test_rendering_again_removes_what_the_spec_no_longer_has(spec: Spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = rendered(spec, out)
    (out / "NOTES.yaml").write_text("mine: true\n")  # not ours: kept
    smaller = spec.model_copy(
        update={"deployments": {k: v for k, v in spec.deployments.items() if k != "backfill"}}
    )
    files = render_k8s(smaller, None, RenderOptions(**ARGO))
    _, removed = write(files, out)
    gone = sorted(p for p in before if "backfill" in p)
    assert gone == ["base/backfill.cronjob.yaml", "overlays/production/patches/backfill.cronjob.yaml"]
    assert removed == len(gone) and not any((out / p).exists() for p in gone)
    assert (out / "NOTES.yaml").exists()


def test_rendering_one_environment_leaves_the_others_alone(spec: Spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rendered(spec, out, helm=True)
    staging = sorted(p.relative_to(out) for p in (out / "overlays" / "staging").rglob("*.yaml"))
    files = render_k8s(spec, ["production"], RenderOptions(**ARGO, helm=True))
    assert not any(p.startswith("overlays/staging/") for p in files)
    assert files["helm/fraud/values-staging.yaml"] == (out / "helm/fraud/values-staging.yaml").read_text()
    assert write(files, out, owned(["production"])) == (0, 0)
    assert sorted(p.relative_to(out) for p in (out / "overlays" / "staging").rglob("*.yaml")) == staging
    assert (out / "argocd" / "staging.application.yaml").is_file()
    # a render of every environment owns them all: an environment gone from the spec goes
    smaller = spec.model_copy(
        update={"environments": {"production": spec.environments["production"]}, "overrides": {}}
    )
    assert write(render_k8s(smaller, None, RenderOptions(**ARGO)), out, owned(None))[1] > len(staging)
    assert not (out / "overlays" / "staging").exists() or not any(
        (out / "overlays" / "staging").rglob("*.yaml")
    )
    assert not (out / "argocd" / "staging.application.yaml").exists()


def test_argo_cd_applications_follow_each_overlay(spec: Spec, tmp_path: Path) -> None:
    out = tmp_path / "repo" / "deploy" / "k8s"
    rendered(spec, out, path="deploy/k8s", revision="main")
    for env in ("staging", "production"):
        (app,) = load_docs(out / "argocd" / f"{env}.application.yaml")
        source = app["spec"]["source"]
        assert (tmp_path / "repo" / source["path"] / "kustomization.yaml").is_file()
        assert source["targetRevision"] == "main" and source["repoURL"] == ARGO["repo_url"]
        assert app["spec"]["destination"]["namespace"] == f"fraud-{env}"
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


# ---- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (None, {"repo_url": "ftp://x"}, "--repo-url 'ftp://x' is not a git URL"),
        (None, {"image": "Bad Image"}, "--image 'Bad Image' is not an image reference"),
        (None, {"path": "../out"}, "--path '../out' must be"),
        (None, {"egress_cidrs": ("10.0.0.0/33",)}, "--egress-cidr '10.0.0.0/33' is not a CIDR"),
        (None, {"secret_store": "Vault_Store"}, "--secret-store 'Vault_Store' is not a Kubernetes name"),
        (None, {"prediction_log": "/var/log"}, "--prediction-log '/var/log' must be an s3:// prefix"),
        (
            ("models:/fraud@challenger", "models:/other@challenger"),
            {},
            "deployments.api.routes[0]: models:/other@challenger is not a version of fraud",
        ),
        (
            ("weight: 10}", "weight: 10.5}"),
            {},
            "deployments.api.routes[0]: weight 10.5 must be a whole percent",
        ),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, change: tuple[str, str] | None, options: dict[str, Any], message: str
) -> None:
    text = SPEC if change is None else SPEC.replace(*change)
    assert text != SPEC or change is None
    (tmp_path / "shipyard.yaml").write_text(text)
    spec = load_spec(tmp_path / "shipyard.yaml")
    with pytest.raises(InvalidInputError) as err:
        render_k8s(spec, None, RenderOptions(**{**ARGO, **options}))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_specs_that_kubernetes_cannot_run_are_refused(tmp_path: Path) -> None:
    def refused(text: str, env: str | None = None, **options: Any) -> str:
        (tmp_path / "shipyard.yaml").write_text(text)
        with pytest.raises(InvalidInputError) as err:
            render_k8s(
                load_spec(tmp_path / "shipyard.yaml"), [env] if env else None, RenderOptions(**options)
            )
        return str(err.value)

    no_tokens = SPEC.replace(
        "    features: [customer]\n", "    features: [customer]\n    tokens: {required: false}\n"
    )
    assert "tokens.required is false in environment 'staging'" in refused(no_tokens)
    no_image = SPEC.replace(f'    image: "{IMAGE}"\n    replicas', "    replicas")
    assert "deployments.api names no image; set deployments.api.image or pass --image" in refused(no_image)
    assert "is not from a registry environment 'production' allows" in refused(
        no_image, "production", image="docker.io/x:1"
    )
    assert "no environment 'qa' in the spec; known: staging, production" in refused(SPEC, "qa")
    two_shadows = SPEC.replace(
        "mode: shadow}\n", 'mode: shadow}\n      - {model: "models:/fraud/8", mode: shadow}\n'
    )
    assert "at most one shadow route" in refused(two_shadows)
    bad_setting = SPEC.replace("      LOG_LEVEL: info\n", "      log-level: info\n")
    assert "environments.production.settings: 'log-level' is not an environment variable name" in refused(
        bad_setting
    )


def test_the_cli_renders_and_reports_errors_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    out = tmp_path / "out"
    args = ["render", "k8s", "-f", str(tmp_path / "shipyard.yaml"), "-o", str(out), "-e", "production"]
    assert main([*args, "--repo-url", ARGO["repo_url"], "--helm", "--serving", "kserve"]) == 0
    assert (out / "overlays" / "production" / "kustomization.yaml").is_file()
    assert not (out / "overlays" / "staging").exists()
    assert (out / "argocd" / "production.application.yaml").is_file()
    assert (out / "helm" / "fraud" / "Chart.yaml").is_file()
    assert "InferenceService" in (out / "base" / "api.inferenceservice.yaml").read_text()
    capsys.readouterr()
    assert main([*args, "--serving", "knative"]) == 1
    assert main([*args, "-e", "qa"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: --serving 'knative': use deployment or kserve",
        "error: no environment 'qa' in the spec; known: staging, production",
    ]
