"""The workflow ``shipyard ci init github`` writes, run step by step against a local shipyard server.

A real CI is not reachable here, so this test plays GitHub Actions: it reads the generated
``.github/workflows/shipyard.yml``, and for each job (pull request, merge to main, promotion) runs
each step's ``run:`` script with bash (``-eo pipefail``, as ``shell: bash`` does) in the project, with
the workflow's, job's and step's ``env`` (GitHub expressions filled in), a ``$GITHUB_ENV`` file whose
lines reach the later steps, and a stand-in for GitHub's OIDC token service that signs ID tokens with
a local RSA key (the job's subject: ``repo:acme/fraud:pull_request``, ``...:ref:refs/heads/main``,
``...:environment:production``). The server trusts that key through the trust rules ``ci init``
wrote (plus ``jwks_file``). ``shipyard`` on PATH is this checkout's CLI.

Every shipyard command runs; only what the runner itself provides is skipped (:data:`RUNNER`).
Production serves ``models:/fraud/1``; the branch deploys ``models:/fraud@candidate`` (version 2) to
staging and the PR starts the experiment of version 2 against production's ``api``. The first
promotion is refused by its gates (no experiment data, an approver without a role, no monitor
results, no CI check) and changes nothing; once each gate is satisfied (a prediction log on the
server, a maintainer approver, monitor results, ``ci.status=success``) the same job promotes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shipyard.cli.main import main
from shipyard.core.entities import RunCreate
from shipyard.deploy import experiments as ex
from shipyard.metadata.delivery import ObjectState
from shipyard.metadata.model_registry import ModelVersionCreate
from shipyard.metadata.monitoring import ResultRow, open_monitoring_records
from shipyard.metadata.security import Binding
from shipyard.monitoring.logs import log_labels
from tests.deploy.delivery_world import SPEC, open_world
from tests.experiments.logs import write_log
from tests.server.access_helpers import client_for
from tests.server.live import LiveServer, live_server
from tests.ui.live import LiveServer as Served

REPO = "acme/fraud"
ISSUER = "https://token.actions.githubusercontent.com"
REQUEST_TOKEN = "gh-request-token-123"
# Not shipyard commands: what the runner itself provides.
RUNNER = {
    "pip install": "installing shipyard: this checkout's CLI is on PATH",
    "gh pr comment": "GitHub's API; the test checks plan.txt, the body it would post",
}
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SIG = {"input_kind": "dataframe", "inputs": [{"name": "x", "type": "float64"}]}
FLOW = """
from shipyard import flow, step

@step
def train(n: int) -> int:
    return n * 2

@flow
def fraud_train(n: int = 21):
    return train(n)
"""


class TokenService:
    """GitHub's OIDC token service, standing in: ``GET /token?audience=A`` with the job's request
    token answers ``{"value": <ID token>}`` for the current job's subject."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "gh1", "use": "sig"})
        self.subject = ""
        self.issued: list[str] = []

    def app(self) -> Starlette:
        async def token(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {REQUEST_TOKEN}":
                return JSONResponse({"message": "bad request token"}, status_code=401)
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "aud": request.query_params.get("audience", ISSUER),
                "sub": self.subject,
                "repository": REPO,
                "iat": now,
                "nbf": now,
                "exp": now + 300,
            }
            self.issued.append(self.subject)
            return JSONResponse({"value": jwt.encode({"alg": "RS256", "kid": "gh1"}, claims, self.key)})

        return Starlette(routes=[Route("/token", token)])


@pytest.fixture(scope="module")
def tokens() -> Iterator[tuple[TokenService, str]]:
    service = TokenService()
    with Served(service.app()) as served:
        yield service, served.url


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e") / "fraud"
    (root / "flows").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "shipyard.yaml").write_text(SPEC)
    (root / "flows" / "train.py").write_text(FLOW)
    (root / "tests" / "test_train.py").write_text("def test_doubles():\n    assert 2 * 2 == 4\n")
    assert main(["ci", "init", "github", "--dir", str(root), "--repo", REPO]) == 0
    return root


@pytest.fixture(scope="module")
def server(project: Path, tokens: tuple[TokenService, str]) -> Iterator[LiveServer]:
    service, _ = tokens
    jwks = project.parent / "github-jwks.json"
    jwks.write_text(json.dumps({"keys": [service.key.as_dict(private=False)]}))
    rules = yaml.safe_load((project / ".github" / "shipyard-ci-trust.yaml").read_text())
    for rule in rules["rules"]:
        rule["jwks_file"] = str(jwks)  # GitHub's issuer name, this test's key
    trust = project.parent / "trust.yaml"
    trust.write_text(yaml.safe_dump(rules))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_CI_TRUST_FILE", str(trust))
        with live_server(project.parent / "server") as live:
            world = open_world(live.stores.metadata)
            production = world.register(approved=True)  # version 1, what production serves
            run_id = uuid.uuid4().hex
            live.stores.metadata.create_run(RunCreate(run_id, "train", "user:bob", "bob", T0))
            card = {"description": "fraud scores", "tags": {"intended_use": "card payments"}}
            challenger = world.registry.create_version(
                ModelVersionCreate(
                    "fraud", "b" * 64, 1, "sklearn", "bob", T0, run_id=run_id, signature=SIG, **card
                )  # type: ignore[arg-type]
            ).version
            world.registry.set_approval("fraud", challenger, True, user="carol", at=T0)  # no role yet
            world.alias("candidate", challenger)
            world.secret("db", "staging")
            served = f"models:/fraud/{production}"
            ex.record(
                world.delivery, "fraud", "production", user="alice", what="apply",
                put=[ObjectState("service", "api", {"model": served}, served)],
            )  # fmt: skip
            with client_for(live, live.token) as admin:
                ci = {"name": "ci", "role": None, "kind": "service"}
                admin.post("/api/v1/users", json=ci).raise_for_status()
                binding = {"principal": "ci", "role": "maintainer", "scope": "project:fraud"}
                admin.post("/api/v1/bindings", json=binding).raise_for_status()
            yield live


def expressions(server: LiveServer) -> dict[str, str]:
    return {
        "vars.SHIPYARD_URI": server.url,
        "github.head_ref": "feature-x",
        "github.ref": "refs/pull/7/merge",
        "github.token": "unused",
        "github.event.pull_request.number": "7",
        "inputs.promote_from": "feature-x",
    }


def fill(values: dict[str, Any] | None, known: dict[str, str]) -> dict[str, str]:
    def one(text: str) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            assert name in known, f"the workflow uses ${{{{ {name} }}}}, which this test does not fill in"
            return known[name]

        return re.sub(r"\$\{\{([^}]*)\}\}", sub, text)

    return {k: one(str(v)) for k, v in (values or {}).items()}


def skip_reason(script: str) -> str | None:
    for prefix, why in RUNNER.items():
        if script.startswith(prefix):
            return why
    return None


def shim(bin_dir: Path) -> None:
    """``shipyard`` on PATH: this checkout's CLI (PYTHONPATH names its src)."""
    bin_dir.mkdir(exist_ok=True)
    target = bin_dir / "shipyard"
    target.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c 'import sys; from shipyard.cli.main import main; "
        'sys.exit(main())\' "$@"\n'
    )
    target.chmod(0o755)


def run_job(
    workflow: dict[str, Any],
    job: str,
    subject: str,
    project: Path,
    server: LiveServer,
    tokens: tuple[TokenService, str],
    ran: list[str],
    skipped: list[str],
) -> subprocess.CompletedProcess[str] | None:
    """Run the job's steps in order as the runner does; the failing step's result stops it (None:
    every step passed)."""
    service, url = tokens
    service.subject = subject
    known = expressions(server)
    github_env = project.parent / f"github-env-{job}"
    github_env.write_text("")
    bin_dir = project.parent / "bin"
    shim(bin_dir)
    src = Path(__file__).resolve().parents[2] / "src"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "PYTEST_"))}
    env = {
        **base,
        "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
        "PYTHONPATH": f"{src}{os.pathsep}{project}",
        "SHIPYARD_HOME": str(project.parent / f"runner-home-{job}"),
        "GITHUB_ENV": str(github_env),
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the project's tests need none of this venv's plugins
        **fill(workflow.get("env"), known),
        **fill(workflow["jobs"][job].get("env"), known),
    }
    for step in workflow["jobs"][job]["steps"]:
        script = step.get("run")
        if script is None:
            continue  # `uses:` actions (checkout, setup-python): the runner's
        why = skip_reason(script)
        if why is not None:
            skipped.append(script)
            continue
        for line in github_env.read_text().splitlines():  # what earlier steps exported
            name, _, value = line.partition("=")
            env[name] = value
        step_env = {**env, **fill(step.get("env"), known)}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=project,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr, done.stderr
        ran.append(script)
        if done.returncode != 0:
            return done
    return None


def served_version(server: LiveServer) -> str | None:
    objects = server.app.state.ctx.delivery.list_objects("fraud", "production")
    return next(o.model_version for o in objects if (o.kind, o.name) == ("service", "api"))


def satisfy_gates(project: Path, server: LiveServer) -> None:
    """What turns each gate green: a prediction log where the promotion job reads it (version 2
    clearly better, 10% of traffic as started), a maintainer approver, monitor results, CI green."""
    metadata = server.stores.metadata
    ctx = server.app.state.ctx
    ctx.security.create_user("carol", T0)
    ctx.security.create_binding(
        Binding("b-carol", "user", "carol", "maintainer", "project:fraud", T0, "admin")
    )
    world = open_world(metadata)
    world.registry.set_version_tags("fraud", 2, {"ci.status": "success"})
    monitoring = open_monitoring_records(metadata)
    now = datetime.now(UTC)
    monitoring.put_monitor(
        "api-health", "api", {"name": "api-health", "deployment": "api", "checks": {}}, now
    )
    monitoring.add_results([ResultRow("api-health", now, "volume", "rows", 10.0, 1.0, False)])
    rng = np.random.default_rng(7)
    n = 16000
    ts = int((now - timedelta(hours=3)).timestamp() * 1e6) + np.sort(rng.integers(0, 3 * 3600 * 10**6, n))
    arm = (rng.random(n) < 0.10).astype(np.int64)  # the experiment's 10% share
    label = rng.integers(0, 2, n)
    correct = rng.random(n) < np.where(arm == 1, 0.9, 0.7)
    log_dir = server.settings.home / "predictions"  # the server's: it judges the gates, not the runner
    ids = write_log(
        log_dir,
        "api",
        ts_us=ts,
        arm=arm,
        prediction=np.where(correct, label, 1 - label),
        latency_ms=np.ones(n),
    )
    log_labels(ids, label.tolist(), deployment="api", log_dir=str(log_dir))


@pytest.mark.slow  # ~20 s idle, ~70 s at load 10 on 2 cores: one python process per shipyard command
def test_the_generated_workflow_runs_end_to_end(
    project: Path, server: LiveServer, tokens: tuple[TokenService, str]
) -> None:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "shipyard.yml").read_text())
    ran: list[str] = []
    skipped: list[str] = []
    jobs = [
        ("pull-request", f"repo:{REPO}:pull_request"),
        ("staging", f"repo:{REPO}:ref:refs/heads/main"),
    ]
    for job, subject in jobs:
        failed = run_job(workflow, job, subject, project, server, tokens, ran, skipped)
        assert failed is None, f"{failed.args}: {failed.stdout}\n{failed.stderr}" if failed else ""
    production = ("production", f"repo:{REPO}:environment:production")
    refused = run_job(workflow, *production, project, server, tokens, ran, skipped)

    assert ran == [
        "python -m pytest -q",
        "shipyard ci login --rule fraud-pr-dev --audience shipyard --github-env",
        "shipyard run flows/train.py",
        "shipyard ci login --rule fraud-pr-staging --audience shipyard --github-env",
        "shipyard plan -e staging | tee plan.txt",
        'shipyard apply -e staging --branch "$BRANCH"',
        "shipyard ci login --rule fraud-pr-experiment --audience shipyard --github-env",
        'shipyard experiment start "$BRANCH" --deployment api --from-branch "$BRANCH" --branch-env staging '
        "--env production",
        "shipyard ci login --rule fraud-main-staging --audience shipyard --github-env",
        "shipyard apply -e staging",
        "shipyard ci login --rule fraud-production --audience shipyard --github-env",
        'shipyard promote api --from "$FROM" --to production',
    ]
    assert [skip_reason(s) for s in skipped] == [
        RUNNER["pip install"],
        RUNNER["gh pr comment"],
        RUNNER["pip install"],
        RUNNER["pip install"],
    ]
    assert "staging" in (project / "plan.txt").read_text()  # the body the PR comment posts

    # the promotion job fails on the gates, naming each, and production still serves version 1
    assert refused is not None and refused.returncode == 1
    said = refused.stdout + refused.stderr
    assert "error: promotion refused: experiment: decided" in said
    for gate in ("experiment", "approval", "monitors", "ci"):
        assert f"FAIL  {gate}:" in said and (f"; {gate}: " in said or f"refused: {gate}: " in said)
    assert "pass  card: complete" in said  # the one gate already green
    assert "'carol' holds none of maintainer" in said and "more rows per arm needed" in said
    assert served_version(server) == "models:/fraud/1"

    ctx = server.app.state.ctx
    runs = server.stores.metadata.search_runs(namespaces=["project:fraud"]).runs
    assert [(r.user, r.status.value) for r in runs] == [("ci", "succeeded")]  # the dev run
    staging = next(e for e in ctx.delivery.list_environments("fraud") if e.environment == "staging")
    release = ctx.delivery.get_release("fraud", "staging", staging.release)
    assert (release.applied_by, release.outcome) == ("ci", "applied")
    branch = {
        (o.kind, o.name): o.model_version for o in ctx.delivery.list_objects("fraud", "staging--feature-x")
    }
    assert branch[("service", "api")] == "models:/fraud/2"  # the branch's deployment, beside staging's
    experiment = ex.get_experiment(ctx.delivery, "fraud", "production", "feature-x")
    assert (experiment.deployment, experiment.challenger, experiment.status) == (
        "api",
        "models:/fraud/2",
        "running",
    )
    [number] = [
        r.number for r in ctx.delivery.list_releases("fraud", "production", limit=10) if r.outcome == "failed"
    ]
    failed = ctx.delivery.get_release("fraud", "production", number)  # with its plan: every gate's value
    assert failed.applied_by == "ci" and failed.plan is not None and len(failed.plan["gates"]) == 5

    # every gate satisfied: the same job promotes, in one release, and marks the experiment promoted
    satisfy_gates(project, server)
    again = run_job(workflow, *production, project, server, tokens, ran, skipped)
    assert again is None
    assert served_version(server) == "models:/fraud/2"
    assert ex.get_experiment(ctx.delivery, "fraud", "production", "feature-x").status == "promoted"

    ctx.audit.flush()
    exchanges = [e for e in ctx.security.list_audit(limit=1000) if e.action == "oidc.exchange"]
    assert sorted(json.loads(e.detail or "{}")["rule"] for e in exchanges) == [
        "fraud-main-staging",
        "fraud-pr-dev",
        "fraud-pr-experiment",
        "fraud-pr-staging",
        "fraud-production",
        "fraud-production",
    ]
    assert all(e.status == 201 and e.user == "ci" for e in exchanges)
