"""``shipyard ci init github|gitlab``: valid YAML, valid against the CI's own JSON schema (vendored by
check-jsonschema), the steps the issue asks for as plain shipyard commands, trust rules that load,
and no overwrite without --force."""

from __future__ import annotations

import json
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shipyard.cli.main import main
from shipyard.server.ci_oidc import load_trust_rules
from tests.deploy.delivery_world import SPEC


def schema(name: str) -> dict[str, Any]:
    text = files("check_jsonschema.builtin_schemas.vendor").joinpath(f"{name}.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema_errors(name: str, document: Any) -> list[str]:
    found = schema(name)
    validator = jsonschema.validators.validator_for(found)(found)
    return [e.message for e in validator.iter_errors(document)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "fraud"
    (root / "flows").mkdir(parents=True)
    (root / "shipyard.yaml").write_text(SPEC)
    (root / "flows" / "train.py").write_text("")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(
        ["git", "-C", str(root), "remote", "add", "origin", "https://github.com/acme/fraud.git"], check=True
    )
    return root


def init(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["ci", "init", *args, "--dir", str(root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def commands(workflow: dict[str, Any], job: str) -> list[str]:
    return [step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step]


def test_github_workflow(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = init(project, "github", capsys=capsys)
    assert code == 0, out
    target = project / ".github" / "workflows" / "shipyard.yml"
    text = target.read_text()
    assert "&id" not in text  # no YAML anchors: each job spelled out
    workflow = yaml.safe_load(text)
    assert schema_errors("github-workflows", workflow) == []
    assert workflow["permissions"]["id-token"] == "write"  # the OIDC token the jobs exchange
    assert workflow["env"]["SHIPYARD_RUN_NAMESPACE"] == "project:fraud"
    pr = commands(workflow, "pull-request")
    assert pr[1:] == [
        "python -m pytest -q",
        "shipyard ci login --rule fraud-pr-dev --audience shipyard --github-env",
        "shipyard run flows/train.py",  # the spec's flow
        "shipyard ci login --rule fraud-pr-staging --audience shipyard --github-env",
        "shipyard plan -e staging | tee plan.txt",
        'shipyard apply -e staging --branch "$BRANCH"',
        "shipyard ci login --rule fraud-pr-experiment --audience shipyard --github-env",
        # the experiment is named after the branch; its challenger is what the branch's `api` serves
        'shipyard experiment start "$BRANCH" --deployment api --from-branch "$BRANCH" --branch-env staging '
        "--env production",
        'gh pr comment "$PR" --body-file plan.txt',
    ]
    assert commands(workflow, "staging")[-1] == "shipyard apply -e staging"
    assert commands(workflow, "production")[-1] == 'shipyard promote api --from "$FROM" --to production'
    assert workflow["jobs"]["production"]["environment"] == "production"
    rules = load_trust_rules(project / ".github" / "shipyard-ci-trust.yaml")
    by_name = {r.name: r for r in rules}
    assert by_name["fraud-pr-dev"].subject == "repo:acme/fraud:pull_request"
    assert by_name["fraud-main-staging"].subject == "repo:acme/fraud:ref:refs/heads/main"
    assert by_name["fraud-production"].subject == "repo:acme/fraud:environment:production"
    assert [(r.environment, r.actions) for r in rules] == [
        ("dev", ["run"]),
        ("staging", ["apply"]),
        ("production", ["experiment"]),  # a PR starts experiments there, and writes nothing else
        ("staging", ["apply"]),
        ("production", ["promote"]),
    ]


def test_no_overwrite_without_force(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(project, "github", capsys=capsys)[0] == 0
    target = project / ".github" / "workflows" / "shipyard.yml"
    target.write_text("# mine\n")
    code, _, err = init(project, "github", capsys=capsys)
    assert code != 0 and "exists; pass --force to overwrite it" in err and len(err.strip().splitlines()) == 1
    assert target.read_text() == "# mine\n"
    assert init(project, "github", "--force", capsys=capsys)[0] == 0
    assert "shipyard apply -e staging" in target.read_text()


def test_gitlab_pipeline(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = init(project, "gitlab", capsys=capsys)
    assert code == 0
    pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert schema_errors("gitlab-ci", pipeline) == []
    assert pipeline["dev-run"]["variables"]["SHIPYARD_TOKEN"] == "$SHIPYARD_TOKEN_DEV"
    assert pipeline["staging"]["script"] == ["shipyard apply -e staging"]
    assert pipeline["production"]["rules"][0]["when"] == "manual"
    assert "--env production --action promote" in out  # how to make the variables' tokens
    assert "--env production --action experiment" in out
    assert pipeline["experiment"]["variables"]["SHIPYARD_TOKEN"] == "$SHIPYARD_TOKEN_EXPERIMENT"
    assert pipeline["experiment"]["script"] == [
        'shipyard experiment start "$BRANCH" --deployment api --from-branch "$BRANCH" --branch-env staging '
        "--env production"
    ]
    assert pipeline["production"]["script"] == ['shipyard promote api --from "$FROM" --to production']


def test_the_service_comes_from_the_spec_or_the_option(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = project / "shipyard.yaml"
    spec.write_text(SPEC.replace("  nightly:\n", "  web:\n    model: models:/fraud/1\n  nightly:\n"))
    code, _, err = init(project, "github", capsys=capsys)
    assert code != 0 and "deploys api, web to production" in err and "pass --service NAME" in err
    assert len(err.strip().splitlines()) == 1
    assert init(project, "github", "--service", "web", capsys=capsys)[0] == 0
    workflow = yaml.safe_load((project / ".github" / "workflows" / "shipyard.yml").read_text())
    assert commands(workflow, "production")[-1] == 'shipyard promote web --from "$FROM" --to production'


def test_bad_input_is_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = init(project, "jenkins", capsys=capsys)
    assert code != 0 and "unknown CI 'jenkins'; use github or gitlab" in err
    (project / "shipyard.yaml").unlink()
    code, _, err = init(project, "github", capsys=capsys)
    assert code != 0 and "pass --project NAME" in err
    code, _, err = init(project, "github", "--project", "Bad Name", capsys=capsys)
    assert code != 0 and "invalid project name" in err


def test_the_schema_check_can_fail() -> None:
    assert schema_errors("github-workflows", {"on": "push", "jobs": {"x": {"steps": 5}}}) != []


def test_experiment_start_from_a_branch_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the workflow's experiment step says when the branch's deployment is missing."""
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHIPYARD_URI", raising=False)
    start = ["experiment", "start", "feature-x", "--deployment", "api", "-p", "fraud"]
    cases = [
        ([], "give the challenger: --challenger models:/NAME/VERSION or --from-branch BRANCH"),
        (["--challenger", "models:/fraud/1", "--from-branch", "b"], "give the challenger"),
        (["--from-branch", "feature-x"], "deploy it first: shipyard apply -e staging --branch feature-x"),
        (["--from-branch", "Bad/B"], "invalid branch name 'Bad/B'"),
    ]
    for extra, says in cases:
        capsys.readouterr()
        assert main([*start, *extra]) != 0
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_project_without_a_service_gets_no_experiment(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batch scoring, training only: nothing to A/B test; the manual job applies production."""
    (project / "shipyard.yaml").write_text(
        "project: {name: fraud, owners: [alice]}\n"
        "environments: {dev: {}, staging: {}, production: {}}\n"
        "flows:\n  scoring: {file: flows/train.py, schedule: '0 2 * * *'}\n"
    )
    code, out, err = init(project, "github", capsys=capsys)
    assert code == 0, err
    workflow = yaml.safe_load((project / ".github" / "workflows" / "shipyard.yml").read_text())
    assert schema_errors("github-workflows", workflow) == []
    pr = commands(workflow, "pull-request")
    assert not any("experiment" in c for c in pr) and pr[-1] == 'gh pr comment "$PR" --body-file plan.txt'
    assert commands(workflow, "production")[-1] == "shipyard apply -e production"
    assert "FROM" not in workflow["jobs"]["production"].get("env", {})
    rules = load_trust_rules(project / ".github" / "shipyard-ci-trust.yaml")
    assert [(r.environment, r.actions) for r in rules] == [
        ("dev", ["run"]),
        ("staging", ["apply"]),
        ("staging", ["apply"]),
        ("production", ["apply"]),
    ]
    code, out, _ = init(project, "gitlab", capsys=capsys)
    assert code == 0
    pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert schema_errors("gitlab-ci", pipeline) == []
    assert "experiment" not in pipeline and pipeline["production"]["script"] == [
        "shipyard apply -e production"
    ]
    assert "--env production --action apply" in out and "--action experiment" not in out


def test_a_lock_is_what_the_jobs_install(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "requirements.lock").write_text("")
    assert init(project, "github", capsys=capsys)[0] == 0
    workflow = yaml.safe_load((project / ".github" / "workflows" / "shipyard.yml").read_text())
    install = workflow["jobs"]["staging"]["steps"][2]["run"]
    assert install.startswith("pip install --require-hashes --no-deps -r requirements.lock && ")
    assert install.endswith("pip install --no-deps -r requirements.txt && pip check")
