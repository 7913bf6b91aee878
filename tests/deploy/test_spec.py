"""shipyard.yaml: a valid two-environment spec loads; every error is located (file:line:column)
and says what is allowed; overrides give each environment its own view; the spec-level
policies (secrets, data, images, compute) refuse what an environment may not have."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from shipyard.cli.main import main
from shipyard.deploy.spec.load import SpecInvalid, load_spec, parse, validate
from shipyard.deploy.spec.models import BatchJob, Service, Spec, size_bytes
from shipyard.deploy.spec.rules import for_environment

GOOD = textwrap.dedent(
    """\
    project:
      name: fraud
      owners: [alice]
    environments:
      staging:
        policies:
          secrets: [db]
          data: {feature_views: [customer], datasets: [transactions]}
      production:
        policies:
          models: {require: {approved: true, min_quality: {f1: 0.9}}}
          compute: {deployment: {cpu: 4, memory: 8Gi}}
          images: {registries: [ghcr.io/acme]}
          secrets: [db]
          data: {feature_views: [customer], datasets: [transactions]}
        settings:
          DB_URL: "postgresql://app:${secret:db}@db/fraud"
    deployments:
      api:
        model: models:/fraud@champion
        replicas: 1
        resources: {cpu: 1, memory: 2Gi}
        routes:
          - {model: "models:/fraud@challenger", weight: 10}
        features: [customer]
        secrets: [db]
      nightly:
        kind: batch
        model: models:/fraud/3
        input: datasets:/transactions@latest
        output: scores/
        schedule: "0 2 * * *"
        environments: [production]
    flows:
      train:
        file: flows/train.py
        params: {epochs: 3}
        schedule: "0 * * * *"
        environment: staging
    overrides:
      production:
        deployments:
          api: {replicas: 4, image: ghcr.io/acme/serve:1.2}
    """
)


def load(text: str, tmp_path: Path) -> Spec:
    path = tmp_path / "shipyard.yaml"
    path.write_text(text)
    return load_spec(path)


def errors(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        load(text, tmp_path)
    return [str(e) for e in info.value.errors]


def test_a_two_environment_spec_loads(tmp_path: Path) -> None:
    spec = load(GOOD, tmp_path)
    assert list(spec.environments) == ["staging", "production"]
    assert isinstance(spec.deployments["api"], Service) and isinstance(spec.deployments["nightly"], BatchJob)
    assert spec.environments["production"].policies.models.require.min_quality == {"f1": 0.9}


def test_overrides_give_each_environment_its_own_view(tmp_path: Path) -> None:
    spec = load(GOOD, tmp_path)
    staging, production = for_environment(spec, "staging"), for_environment(spec, "production")
    assert staging.deployments["api"].replicas == 1 and staging.deployments["api"].image is None
    assert production.deployments["api"].replicas == 4
    assert production.deployments["api"].image == "ghcr.io/acme/serve:1.2"
    assert production.deployments["api"].routes == staging.deployments["api"].routes  # untouched keys stay
    assert "nightly" not in staging.deployments and "nightly" in production.deployments
    assert "train" in staging.flows and "train" not in production.flows


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "at", "col", "where", "expected"),
    [
        (
            "  replicas: 1\n",
            "  replica: 1\n",
            "replica:",
            5,
            "deployments.api.replica",
            "unknown key; allowed: autoscaling",
        ),
        (
            "  replicas: 1\n",
            "  replicas: -1\n",
            "replicas: -1",
            5,
            "deployments.api.replicas",
            "greater than or equal to 0",
        ),
        (
            "model: models:/fraud@champion",
            "model: fraud@champion",
            "model: fraud@",
            5,
            "deployments.api.model",
            "not a model reference",
        ),
        ("  name: fraud\n", "  name: Fraud_Team\n", "name: Fraud", 3, "project.name", "should match pattern"),
        (
            "kind: batch\n",
            "kind: stream\n",
            "kind: stream",
            5,
            "deployments.nightly.kind",
            "'service' or 'batch'",
        ),
        (
            "environments: [production]\n",
            "environments: [prod]\n",
            "environments: [prod]",
            20,
            "deployments.nightly.environments[0]",
            "unknown environment 'prod'; known: staging, production",
        ),
        (
            "file: flows/train.py\n",
            "file: ../train.py\n",
            "train:",
            3,
            "flows.train",
            "must be a .py path inside the project",
        ),
        (
            'schedule: "0 2 * * *"',
            'schedule: "0 25 * * *"',
            'schedule: "0 25',
            5,
            "deployments.nightly.schedule",
            "is not a cron expression",
        ),
        (
            "    output: scores/\n",
            "",
            "nightly:",
            3,
            "deployments.nightly.output",
            "missing required key 'output'",
        ),
    ],
)
def test_each_error_names_its_line_column_and_the_fix(
    tmp_path: Path, old: str, new: str, at: str, col: int, where: str, expected: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    found = errors(text, tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith(f"shipyard.yaml:{line_of(text, at)}:{col}: {where}: "), found[0]
    assert expected in found[0]


def test_a_duplicate_key_and_broken_yaml_are_located(tmp_path: Path) -> None:
    dup = GOOD.replace("    replicas: 1\n", "    replicas: 1\n    replicas: 2\n", 1)
    line = line_of(dup, "replicas: 2")
    assert errors(dup, tmp_path) == [
        f"shipyard.yaml:{line}:5: deployments.api.replicas: this key appears twice"
    ]
    broken = errors("project:\n  name: [fraud\n", tmp_path)
    assert broken[0].startswith("shipyard.yaml:") and "not valid YAML" in broken[0]
    assert errors("", tmp_path)[0].endswith("the spec is empty; it needs project and environments")


def test_environment_policies_refuse_what_it_may_not_have(tmp_path: Path) -> None:
    prod = "      secrets: [db]\n      data: {feature_views: [customer], datasets: [transactions]}\n"
    prod += "    settings:"
    assert prod in GOOD
    text = GOOD.replace(
        prod, "      secrets: []\n      data: {feature_views: [], datasets: []}\n    settings:"
    )
    found = errors(text, tmp_path)
    joined = "\n".join(found)
    assert (
        "environment 'production' may not read secret 'db'; add it to "
        "environments.production.policies.secrets" in joined
    )
    assert "may not read feature view 'customer'" in joined
    assert "may not read dataset 'transactions'" in joined
    assert all(f.startswith("shipyard.yaml:") for f in found)


def test_images_and_compute_are_judged_after_overrides(tmp_path: Path) -> None:
    text = GOOD.replace(
        "api: {replicas: 4, image: ghcr.io/acme/serve:1.2}",
        "api: {replicas: 4, image: docker.io/x/serve:1, resources: {cpu: 8, memory: 16Gi}}",
    )
    joined = "\n".join(errors(text, tmp_path))
    assert (
        "image 'docker.io/x/serve:1' is not from a registry environment 'production' allows (ghcr.io/acme)"
        in joined
    )
    assert "cpu 8 is above environment 'production''s limit of 4" in joined
    assert "memory 16Gi is above environment 'production''s limit of 8Gi" in joined


def test_an_override_that_breaks_a_deployment_is_located_in_the_override(tmp_path: Path) -> None:
    text = GOOD.replace("api: {replicas: 4, image: ghcr.io/acme/serve:1.2}", "api: {replicas: many}")
    found = errors(text, tmp_path)
    assert len(found) == 1 and "overrides.production.deployments.api.replicas" in found[0]
    assert "in environment 'production' after its overrides" in found[0]
    text = GOOD.replace("    deployments:\n      api: {", "    deployments:\n      apii: {")
    assert "no deployment 'apii' to override" in errors(text, tmp_path)[0]


def test_the_published_schema_accepts_the_example_and_refuses_unknown_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    data = yaml.safe_load(GOOD)
    jsonschema.validate(data, schema)
    data["deployments"]["api"]["replica"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_validate_command_lists_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "shipyard.yaml"
    good.write_text(GOOD)
    assert main(["validate", str(good)]) == 0
    assert "valid — project fraud, environments staging, production" in capsys.readouterr().out
    good.write_text(GOOD.replace("replicas: 1", "replica: 1").replace("name: fraud", "name: Fraud"))
    assert main(["validate", str(good)]) == 1
    err = capsys.readouterr().err
    assert (
        err.count("error:") == 2
        and "shipyard.yaml:2:3: project.name" in err
        and "deployments.api.replica:" in err
    )
    assert main(["validate", str(tmp_path / "none.yaml")]) == 1
    assert "no spec at" in capsys.readouterr().err


def test_sizes() -> None:
    assert size_bytes("2GB") == 2 * 10**9 and size_bytes("512Mi") == 512 * 2**20 and size_bytes("10") == 10
    with pytest.raises(ValueError, match="not a size"):
        size_bytes("lots")


def test_a_huge_spec_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(SpecInvalid, match="over 1024 KiB"):
        validate(parse("a: " + "x" * (1 << 20), "shipyard.yaml"))
