"""Delivery through the team server (the REST store): the server records who applies from the
token, decides deploy:plan / deploy:apply at project:P/env:E, and audits each release."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.core.errors import PermissionDeniedError
from shipyard.deploy.apply import apply, rollback
from shipyard.deploy.facts import StoreFacts
from shipyard.deploy.plan import make_plan
from shipyard.metadata.delivery import open_delivery_store
from shipyard.metadata.rest.store import RestMetadataStore
from tests.deploy.delivery_world import open_world, spec_of
from tests.server.access_helpers import client_for, make_user
from tests.server.live import LiveServer, live_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as live:
        yield live


def _facts(server: LiveServer, token: str) -> StoreFacts:
    metadata = RestMetadataStore(server.url, token=token)
    return StoreFacts(metadata, open_delivery_store(metadata), "claimed-name-is-ignored")


def test_apply_through_the_server_records_the_tokens_principal_and_audits(server: LiveServer) -> None:
    world = open_world(server.stores.metadata)  # the server's database: models and secrets to find
    world.alias("candidate", world.register(approved=True))
    world.secret("db", "production")
    with client_for(server, server.token) as admin:
        alice = make_user(admin, "alice", "viewer")
        bob = make_user(admin, "bob", "developer")  # plans (viewer's deploy:plan), never applies
        binding = {"principal": "alice", "role": "maintainer", "scope": "project:fraud/env:production"}
        admin.post("/api/v1/bindings", json=binding).raise_for_status()

    as_alice = _facts(server, alice)
    applier = as_alice.applier("fraud", "production")
    assert applier.name == "alice" and applier.can_apply and "maintainer" in applier.roles
    assert not as_alice.applier("fraud", "staging").can_apply  # bound to production only

    result = apply(spec_of(), "production", delivery=as_alice.delivery, facts=as_alice, user="ignored")
    assert result.release is not None and result.release.applied_by == "alice"
    assert result.release.outcome == "applied"
    again = apply(spec_of(), "production", delivery=as_alice.delivery, facts=as_alice, user="ignored")
    assert again.release is None

    events = [e for e in server.app.state.ctx.security.list_audit() if e.action == "release.applied"]
    assert [(e.user, e.target) for e in events] == [("alice", "fraud/production/releases/1")]

    as_bob = _facts(server, bob)
    [env] = as_bob.delivery.list_environments()
    assert (env.project, env.environment, env.release, env.objects) == ("fraud", "production", 1, 3)
    world.alias("candidate", world.register(approved=True))  # something to apply
    plan = make_plan(spec_of(), "production", delivery=as_bob.delivery, facts=as_bob)
    assert [v.message for v in plan.refusals] == [
        "production: bob lacks the deploy:apply permission in project:fraud/env:production"
    ]
    with pytest.raises(PermissionDeniedError, match="lacks the deploy:apply permission"):
        as_bob.delivery.acquire_lock("fraud", "production", owner="h:1:abcdef12", by="bob")
    with pytest.raises(PermissionDeniedError):  # the server refuses the lock itself
        rollback("fraud", "production", delivery=as_bob.delivery, facts=as_bob, user="bob")
    with pytest.raises(PermissionDeniedError):
        apply(spec_of(), "production", delivery=as_bob.delivery, facts=as_bob, user="bob")

    as_alice = _facts(server, alice)  # facts are cached for one plan's life: a fresh one sees v2
    second = apply(spec_of(), "production", delivery=as_alice.delivery, facts=as_alice, user="ignored")
    assert second.release is not None and second.release.number == 2
    back = rollback("fraud", "production", delivery=as_alice.delivery, facts=as_alice, user="ignored")
    assert back.release is not None and back.release.restores == 1
    shown = as_bob.delivery.get_release("fraud", "production", 2)
    assert shown.outcome == "rolled-back" and shown.plan is not None


def test_deploy_routes_need_deploy_plan_at_the_environment(server: LiveServer) -> None:
    with client_for(server, server.token) as admin:
        nobody = make_user(admin, "nobody", None)
    with client_for(server, nobody) as client:
        answer = client.get("/api/v1/deploy/fraud/production/objects")
        assert answer.status_code == 403
        assert "deploy:plan" in answer.json()["error"]["message"]
    with httpx.Client(base_url=server.url) as anon:
        assert anon.get("/api/v1/deploy/environments").status_code == 401
