"""Machine tokens: a service account's token narrowed to a project, an environment and actions.

What an action allows passes; every use outside the token's scope is refused with a 403 that names
the scope it has and the one needed, and the refusal is in the audit log; listing is paged;
revoking takes effect on the next request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.core.errors import NotFoundError, PermissionDeniedError
from shipyard.deploy.apply import apply
from shipyard.deploy.facts import StoreFacts
from shipyard.metadata.delivery import open_delivery_store
from shipyard.metadata.rest.store import RestMetadataStore
from shipyard.security.policy import ACTIONS, action_grants, resolve_access
from shipyard.server.app import ServerConfig
from tests.deploy.delivery_world import open_world, spec_of
from tests.server.access_helpers import client_for, new_run
from tests.server.live import LiveServer, live_server

OWNER = "h:1:abcdef12"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root: Path = tmp_path_factory.mktemp("machine")
    with live_server(root, ServerConfig(token_cache_s=0.0, auth_failures=10_000)) as live:
        world = open_world(live.stores.metadata)
        world.alias("candidate", world.register(approved=True))
        world.secret("db", "staging")
        world.secret("db", "production")
        with client_for(live, live.token) as admin:
            admin.post(
                "/api/v1/users", json={"name": "ci", "role": None, "kind": "service"}
            ).raise_for_status()
            binding = {"principal": "ci", "role": "maintainer", "scope": "project:fraud"}
            admin.post("/api/v1/bindings", json=binding).raise_for_status()
        yield live


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with client_for(server, server.token) as client:
        yield client


def machine_token(admin: httpx.Client, env: str, *actions: str, project: str = "fraud") -> tuple[str, str]:
    body = {"name": "gh", "user": "ci", "project": project, "environment": env, "actions": list(actions)}
    made = admin.post("/api/v1/tokens", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["token"]), str(made.json()["record"]["id"])


def refusals(server: LiveServer, user: str = "ci") -> list[tuple[str, int, str]]:
    ctx = server.app.state.ctx
    ctx.audit.flush()
    return [
        (e.action, e.status, e.detail or "")
        for e in ctx.security.list_audit(limit=10_000)
        if e.user == user and e.status == 403
    ]


def test_actions_reach_their_scope_only() -> None:
    grants = action_grants("project:fraud/env:staging", ["apply", "run"])
    by_scope = {g.scope: g.permissions for g in grants}
    assert by_scope["project:fraud/env:staging"] == {"deploy:plan", "deploy:apply"}
    assert {"run:write", "run:read", "model:read"} <= by_scope["project:fraud"]
    access = resolve_access(
        "ci",
        [("maintainer", "project:fraud")],
        {},
        token_scope="project:fraud/env:staging",
        token_permissions=frozenset(p for a in ACTIONS.values() for p in a.permissions),
        token_actions=("apply",),
    )
    assert access.can("deploy:apply", "project:fraud/env:staging")
    assert not access.can("deploy:apply", "project:fraud/env:production")
    assert not access.can("deploy:apply", "project:fraud")
    assert not access.can("run:write", "project:fraud")  # run is not one of its actions
    assert access.can("model:read", "project:fraud")  # a plan reads the project's models
    assert not access.can("secret:read", "project:fraud/env:staging")
    assert access.narrowing() == "its token is limited to actions apply on project:fraud/env:staging"


def test_apply_on_staging_passes_and_production_is_refused_and_audited(
    server: LiveServer, admin: httpx.Client
) -> None:
    token, _ = machine_token(admin, "staging", "apply")
    metadata = RestMetadataStore(server.url, token=token)
    facts = StoreFacts(metadata, open_delivery_store(metadata), "ignored")
    done = apply(spec_of(), "staging", delivery=facts.delivery, facts=facts, user="ignored")
    assert done.release is not None and done.release.outcome == "applied"
    assert done.release.applied_by == "ci"
    with pytest.raises(PermissionDeniedError) as refused:
        facts.delivery.acquire_lock("fraud", "production", owner=OWNER, by="ci")
    message = refused.value.message
    assert "deploy:apply permission in project:fraud/env:production" in message  # the scope needed
    assert "limited to actions apply on project:fraud/env:staging" in message  # the scope it has
    assert "\n" not in message
    assert any(
        action == "POST /api/v1/deploy/{project}/{environment}/lock" and "env:production" in detail
        for action, _, detail in refusals(server)
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "needed"),
    [
        ("GET", "/api/v1/deploy/fraud/production/objects", None, "project:fraud/env:production"),
        ("GET", "/api/v1/deploy/other/staging/objects", None, "project:other/env:staging"),
        ("GET", "/api/v1/secrets/fraud/staging", None, "secret:read"),
        ("GET", "/api/v1/users", None, "user:manage"),
        ("POST", "/api/v1/tokens", {"name": "more"}, "token:create"),
        ("PUT", "/api/v1/models/fraud/aliases/champion", {"version": 1}, "alias:set"),
    ],
    ids=["other-env", "other-project", "secrets", "users", "mint", "alias"],
)
def test_each_use_outside_the_scope_is_refused_and_audited(
    server: LiveServer, admin: httpx.Client, method: str, path: str, body: object, needed: str
) -> None:
    token, _ = machine_token(admin, "staging", "apply")
    before = len(refusals(server))
    with client_for(server, token) as ci:
        answer = ci.request(method, path, json=body)
    assert answer.status_code == 403, answer.text
    message = answer.json()["error"]["message"]
    assert needed in message and "limited to actions apply on project:fraud/env:staging" in message
    after = refusals(server)
    assert len(after) == before + 1 and after[0][0].startswith(method)  # newest first


def test_a_run_token_writes_runs_in_its_project_but_cannot_plan(
    server: LiveServer, admin: httpx.Client
) -> None:
    token, _ = machine_token(admin, "dev", "run")
    with client_for(server, token) as ci:
        assert new_run(ci, "ci", "project:fraud").status_code == 201
        elsewhere = new_run(ci, "ci", "project:other")
        assert elsewhere.status_code == 403
        assert "limited to actions run on project:fraud/env:dev" in elsewhere.json()["error"]["message"]
        own = new_run(ci, "ci")  # the account's own namespace is at the server scope: out of reach
        assert (
            own.status_code == 403
            and "SHIPYARD_RUN_NAMESPACE=project:fraud" in own.json()["error"]["message"]
        )
        planning = ci.get("/api/v1/deploy/fraud/dev/objects")
        assert planning.status_code == 403 and "deploy:plan" in planning.json()["error"]["message"]
        assert ci.get("/api/v1/whoami").json()["token_actions"] == ["run"]
    assert any(a == "POST /api/v1/runs" for a, _, _ in refusals(server))  # a route's own 403, audited


def test_creation_is_checked(server: LiveServer, admin: httpx.Client) -> None:
    def create(**body: object) -> httpx.Response:
        return admin.post("/api/v1/tokens", json={"name": "x", "user": "ci", **body})

    bad = create(project="fraud", environment="staging", actions=["deploy"])
    assert bad.status_code == 400 and "unknown action(s) deploy" in bad.json()["error"]["message"]
    half = create(project="fraud", actions=["apply"])
    assert half.status_code == 400 and "project, environment and actions" in half.json()["error"]["message"]
    both = create(project="fraud", environment="staging", actions=["apply"], scope="*")
    assert both.status_code == 400
    bad_env = create(project="fraud", environment="Staging!", actions=["apply"])
    assert bad_env.status_code == 400 and "invalid scope" in bad_env.json()["error"]["message"]


def test_listing_is_paged_and_revoking_takes_effect(server: LiveServer, admin: httpx.Client) -> None:
    token, token_id = machine_token(admin, "staging", "plan")
    machine_token(admin, "staging", "plan")
    first = admin.get("/api/v1/tokens", params={"user": "ci", "limit": 1}).json()
    assert len(first["tokens"]) == 1 and first["next_offset"] == 1
    rows = admin.get("/api/v1/tokens", params={"user": "ci", "limit": 1000}).json()["tokens"]
    mine = next(r for r in rows if r["id"] == token_id)
    assert mine["actions"] == ["plan"] and mine["scope"] == "project:fraud/env:staging"
    assert "token_hash" not in mine
    with client_for(server, token) as ci:
        assert ci.get("/api/v1/deploy/fraud/staging/objects").status_code == 200
        assert ci.get("/api/v1/tokens", params={"user": "admin"}).status_code == 403
        admin.delete(f"/api/v1/tokens/{token_id}").raise_for_status()
        assert ci.get("/api/v1/deploy/fraud/staging/objects").status_code == 401


def test_the_cli_creates_lists_and_revokes_machine_tokens(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    from shipyard.cli.main import main

    monkeypatch.setenv("SHIPYARD_URI", server.url)
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = cli(
        "tokens",
        "create",
        "--service-account",
        "ci",
        "--project",
        "fraud",
        "--env",
        "staging",
        "--action",
        "plan",
    )
    assert code == 0 and "actions plan on project:fraud/env:staging" in out
    value = out.strip().splitlines()[-1]
    code, out, _ = cli("tokens", "list", "--user", "ci", "--json", "--limit", "1000")
    made = [r for r in json.loads(out) if r["prefix"] == value[:12]]
    assert code == 0 and len(made) == 1 and made[0]["actions"] == ["plan"]
    assert cli("tokens", "create", "--user", "ci", "-p", "run:read", "--name", "second")[0] == 0
    code, out, _ = cli("tokens", "list", "--user", "ci", "--limit", "1")
    assert code == 0 and "more: --offset 1" in out
    code, _, err = cli(
        "tokens", "create", "--service-account", "ci", "--project", "fraud", "--action", "apply"
    )
    assert code == 1 and "project, environment and actions" in err and "Traceback" not in err
    with client_for(server, value) as ci:
        assert ci.get("/api/v1/deploy/fraud/staging/objects").status_code == 200
        assert cli("tokens", "revoke", made[0]["id"])[0] == 0
        assert ci.get("/api/v1/deploy/fraud/staging/objects").status_code == 401


def test_experiment_and_promote_tokens_write_only_their_own_releases(
    server: LiveServer, admin: httpx.Client
) -> None:
    """Both need deploy:apply on production to write a release; neither may apply a spec there."""
    from shipyard.deploy import experiments as ex
    from shipyard.experiments.config import ExperimentSpec
    from shipyard.metadata.delivery import ObjectState

    experiment_token, _ = machine_token(admin, "production", "experiment")
    metadata = RestMetadataStore(server.url, token=experiment_token)
    delivery = open_delivery_store(metadata)
    spec = ExperimentSpec(deployment="api", challenger="models:/fraud/1", share=10)
    assert ex.start(delivery, "fraud", "tok-exp", spec, user="ci").outcome == "applied"
    assert delivery.list_objects("fraud", "staging") is not None  # it reads the project's environments
    assert delivery.roles_at("fraud", "production", "ci") == ("maintainer",)  # the four-eyes gate's ask
    assert delivery.roles_at("fraud", "production", "nobody") == ()
    served = ObjectState("service", "api", {"model": "models:/fraud/1"}, "models:/fraud/1")
    with pytest.raises(
        PermissionDeniedError, match="writes only experiment releases, not one changing service"
    ):
        ex.record(
            delivery, "fraud", "production", user="ci", what="sneak", put=[served]
        )  # the server says no

    promote_token, _ = machine_token(admin, "production", "promote")
    delivery = open_delivery_store(RestMetadataStore(server.url, token=promote_token))
    with pytest.raises(PermissionDeniedError, match="writes only promote releases"):
        ex.record(delivery, "fraud", "production", user="ci", what="apply", put=[served])
    gates = {"promotion": {"service": "api"}, "gates": []}
    with pytest.raises(PermissionDeniedError, match="names its service and experiment"):
        ex.record(delivery, "fraud", "production", user="ci", what="promote", put=[served], plan=gates)
    forged = {"promotion": {"service": "api", "experiment": "tok-exp"}, "gates": []}  # the client's word
    with pytest.raises(NotFoundError, match="no service 'api'"):  # the server judges; nothing to promote
        ex.record(delivery, "fraud", "production", user="ci", what="promote", put=[served], plan=forged)
    with client_for(server, promote_token) as ci:
        synced = ci.put("/api/v1/deploy/fraud/production/sync", json={"status": "synced", "reason": "x"})
        assert synced.status_code == 403 and "may not report sync status" in synced.text


def test_an_environment_token_reaches_its_branch_slots_only(server: LiveServer, admin: httpx.Client) -> None:
    token, _ = machine_token(admin, "staging", "apply")
    with client_for(server, token) as ci:
        assert ci.get("/api/v1/deploy/fraud/staging--feature-x/objects").status_code == 200
        assert ci.get("/api/v1/deploy/fraud/production--feature-x/objects").status_code == 403
        assert ci.get("/api/v1/deploy/fraud/stagingx/objects").status_code == 403
