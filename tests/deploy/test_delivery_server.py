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


def test_a_sync_loop_through_the_server_and_its_webhook(server: LiveServer, tmp_path: Path) -> None:
    import subprocess

    from shipyard.deploy.sync import Syncer, SyncOptions
    from tests.deploy.delivery_world import SPEC

    world = open_world(server.stores.metadata)
    world.alias("candidate", world.register(approved=True))
    world.secret("db", "staging")
    with client_for(server, server.token) as admin:
        alice = make_user(admin, "alice", "maintainer")
        viewer = make_user(admin, "vera", "viewer")
        make_user(admin, "ci", "developer")
        hook = admin.post(
            "/api/v1/tokens",
            json={"name": "gh", "user": "ci", "scope": "project:fraud", "permissions": ["deploy:sync"]},
        )
        hook.raise_for_status()
        hook_token = hook.json()["token"]

    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (("init", "-q", "-b", "main"),):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    (repo / "shipyard.yaml").write_text(SPEC)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Bob", "-c", "user.email=b@x", "commit", "-qm", "one"],
        check=True,
    )
    as_alice = _facts(server, alice)
    syncer = Syncer(
        SyncOptions(str(repo), environments=("staging",)),
        tmp_path / "home",
        as_alice.delivery,
        lambda: _facts(server, alice),
        "ignored",
    )
    [staging] = syncer.sync_once().environments
    assert staging.report.status == "synced" and staging.stored is None
    status = as_alice.delivery.get_sync("fraud", "staging")
    assert status is not None and status.checked_by == "alice" and status.release == 1

    # the webhook's token wakes the loop and can do nothing else; a viewer reads, never wakes
    with client_for(server, hook_token) as gh:
        woken = gh.post("/api/v1/deploy/fraud/staging/sync/hook", json={"ref": "refs/heads/main"})
        assert woken.status_code == 200 and woken.json() == {
            "project": "fraud",
            "environment": "staging",
            "wake": 1,
        }
        assert gh.get("/api/v1/deploy/fraud/staging/sync").status_code == 403
        assert gh.get("/api/v1/deploy/fraud/staging/objects").status_code == 403
        assert gh.post("/api/v1/deploy/other/staging/sync/hook").status_code == 403  # scoped to fraud
    assert syncer.wakes() == {"staging": 1}
    as_viewer = _facts(server, viewer)
    assert [s.status for s in as_viewer.delivery.list_syncs()] == ["synced"]
    with pytest.raises(PermissionDeniedError, match="deploy:sync"):
        as_viewer.delivery.request_sync("fraud", "staging", by="vera")
    with pytest.raises(PermissionDeniedError, match="deploy:apply"):  # only an applier says how it is
        from shipyard.metadata.delivery import SyncReport

        as_viewer.delivery.record_sync("fraud", "staging", SyncReport(status="synced"), by="vera")


def test_the_environments_list_pages_in_the_database_by_keyset(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The route reads chunks of _SCAN environments after a keyset and filters them; a caller who
    may see only some environments gets full pages of those, and next_after continues the list."""
    import shipyard.server.routers.deploy as route
    from shipyard.metadata.delivery import ReleaseDraft

    monkeypatch.setattr(route, "_SCAN", 3)
    delivery = open_delivery_store(server.stores.metadata)
    reads: list[int] = []
    real = type(delivery).list_environments

    def counted(self: object, *args: object, **kwargs: object) -> object:
        rows = real(self, *args, **kwargs)  # type: ignore[arg-type]
        reads.append(len(rows))
        return rows

    monkeypatch.setattr(type(delivery), "list_environments", counted)
    names = [(p, f"e{i:02d}") for p in ("a", "b") for i in range(8)]
    for project, env in names:
        owner = f"o-{project}-{env}"
        delivery.acquire_lock(project, env, owner=owner, by="admin")
        begun = delivery.begin_release(project, env, ReleaseDraft("a" * 64, {}), owner=owner, by="admin")
        delivery.finish_release(project, env, begun.number, owner=owner, outcome="applied")
    with client_for(server, server.token) as admin:
        carol = make_user(admin, "carol", None)
        binding = {"principal": "carol", "role": "viewer", "scope": "project:b"}
        admin.post("/api/v1/bindings", json=binding).raise_for_status()
    seen: list[str] = []
    with client_for(server, carol) as client:
        after: str | None = None
        while True:
            params = {"limit": 3, **({"after": after} if after else {})}
            body = client.get("/api/v1/deploy/environments", params=params).json()
            assert len(body["environments"]) <= 3
            seen += [f"{e['project']}/{e['environment']}" for e in body["environments"]]
            after = body["next_after"]
            if after is None:
                break
        assert seen == [f"b/e{i:02d}" for i in range(8)]  # only project b, in order, each once
        assert max(reads) <= 3  # never more than a chunk from the database
        offset = client.get("/api/v1/deploy/environments", params={"limit": 2, "offset": 3}).json()
        assert [e["environment"] for e in offset["environments"]] == ["e03", "e04"]
        bad = client.get("/api/v1/deploy/environments", params={"after": "no-slash"})
        assert bad.status_code == 400


def test_the_sync_list_pages_in_the_database_by_keyset(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /deploy/sync reads chunks of _SCAN statuses after a keyset and filters them by
    deploy:plan; a caller who may see only some gets full pages of those, in order, each once,
    and next_after (or the SDK, which follows it) continues the list."""
    import shipyard.server.routers.deploy as route
    from shipyard.metadata.delivery import SyncReport

    monkeypatch.setattr(route, "_SCAN", 3)
    delivery = open_delivery_store(server.stores.metadata)
    reads: list[tuple[int | None, object]] = []
    real = type(delivery).list_syncs

    def counted(self: object, *args: object, **kwargs: object) -> object:
        rows = real(self, *args, **kwargs)  # type: ignore[arg-type]
        reads.append((kwargs.get("limit"), kwargs.get("after")))  # type: ignore[arg-type]
        return rows

    monkeypatch.setattr(type(delivery), "list_syncs", counted)
    for project in ("a", "b", "c"):
        for i in range(7):
            delivery.record_sync(project, f"e{i:02d}", SyncReport(status="synced"), by="admin")
    with client_for(server, server.token) as admin:
        carol = make_user(admin, "carol", None)
        binding = {"principal": "carol", "role": "viewer", "scope": "project:b"}
        admin.post("/api/v1/bindings", json=binding).raise_for_status()
    seen: list[str] = []
    with client_for(server, carol) as client:
        after: str | None = None
        while True:
            reads.clear()
            params = {"limit": 3, **({"after": after} if after else {})}
            body = client.get("/api/v1/deploy/sync", params=params).json()
            assert len(body["syncs"]) <= 3
            assert all(limit == 3 for limit, _ in reads)  # never more than a chunk from the database
            if after is not None:  # the page starts at the cursor: nothing before it read again
                assert reads[0][1] == tuple(after.split("/"))
            seen += [f"{s['project']}/{s['environment']}" for s in body["syncs"]]
            after = body["next_after"]
            assert (after is None) == (body["next_offset"] is None)
            if after is None:
                break
        assert seen == [f"b/e{i:02d}" for i in range(7)]  # only project b, in order, each once
        offset = client.get("/api/v1/deploy/sync", params={"limit": 2, "offset": 3}).json()
        assert [s["environment"] for s in offset["syncs"]] == ["e03", "e04"]
        assert offset["next_after"] == "b/e04"
        assert client.get("/api/v1/deploy/sync", params={"after": "b"}).status_code == 400
        assert client.get("/api/v1/deploy/sync", params={"limit": 10_001}).status_code == 400
    as_carol = open_delivery_store(RestMetadataStore(server.url, token=carol))
    assert [s.environment for s in as_carol.list_syncs(limit=4, after=("b", "e01"))] == [
        "e02",
        "e03",
        "e04",
        "e05",
    ]
    assert [s.environment for s in as_carol.list_syncs()] == [f"e{i:02d}" for i in range(7)]


def test_the_openapi_document_bounds_the_paged_lists(server: LiveServer) -> None:
    """limit is 1..LIST_PAGE_MAX and after is a PROJECT/ENVIRONMENT cursor, in the published schema."""
    from shipyard.server.paging import LIST_PAGE_MAX

    with client_for(server, server.token) as admin:
        paths = admin.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/deploy/sync", "/api/v1/deploy/environments", "/api/v1/features/views"):
        params = {p["name"]: p for p in paths[path]["get"]["parameters"]}
        limit = params["limit"]["schema"]
        assert (limit["minimum"], limit["maximum"]) == (1, LIST_PAGE_MAX), path
        assert str(LIST_PAGE_MAX) in params["limit"]["description"].replace(",", "")
        assert "next_after" in params["after"]["description"], path
        assert "next_after" in paths[path]["get"]["description"], path
