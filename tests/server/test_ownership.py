"""Ownership, four eyes, protected aliases, namespaces and scopes (issue 12, hole 2), through a live
server. Before the security model, every one of the refusals below was a 2xx for any writer."""

from __future__ import annotations

import httpx
import pytest

from tests.server.access_helpers import (
    NOW,
    approve,
    client_for,
    make_user,
    model_of,
    new_run,
    new_version,
    run_of,
)
from tests.server.live import LiveServer


@pytest.fixture
def team(server: LiveServer, admin: httpx.Client) -> dict[str, str]:
    return {
        "alice": make_user(admin, "alice", "developer"),
        "bob": make_user(admin, "bob", "developer"),
        "mia": make_user(admin, "mia", "maintainer"),
        "vic": make_user(admin, "vic", "viewer"),
    }


def _denied(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_only_the_owner_or_a_maintainer_changes_a_run(server: LiveServer, team: dict[str, str]) -> None:
    with client_for(server, team["alice"]) as alice, client_for(server, team["bob"]) as bob:
        run = run_of(alice, "alice")
        base = f"/api/v1/runs/{run}"
        attempts = [
            ("POST", f"{base}/params", {"params": {"lr": 1}}),
            ("POST", f"{base}/tags", {"tags": {"x": "y"}}),
            ("DELETE", f"{base}/tags?key=x", None),
            ("POST", f"{base}/heartbeat", {"at": NOW}),
            ("POST", f"{base}/finish", {"status": "failed", "end_time": NOW}),
            ("DELETE", base, None),
        ]
        for method, path, body in attempts:
            response = bob.request(method, path, json=body)
            assert _denied(response), f"bob could {method} {path}: {response.status_code}"
            assert "belongs to 'alice'" in response.json()["error"]["message"]
        metrics = bob.post(f"{base}/metrics", json={"metrics": [["loss", 1.0, 0, 0]]})
        assert _denied(metrics)
        artifact = {
            "id": "a" * 32,
            "run_id": run,
            "name": "a",
            "digest": "0" * 64,
            "size": 1,
            "serializer": "bytes",
            "created_at": NOW,
        }
        assert _denied(bob.post("/api/v1/artifacts", json=artifact))
        assert alice.post(f"{base}/params", json={"params": {"lr": 1}}).status_code == 204
        assert alice.get(base).json()["params"] == {"lr": 1}  # bob's attempts changed nothing
    with client_for(server, team["mia"]) as mia:
        assert mia.post(f"{base}/tags", json={"tags": {"by": "mia"}}).status_code == 204
        assert mia.delete(base).status_code == 204


def test_no_one_writes_into_another_users_namespace(server: LiveServer, team: dict[str, str]) -> None:
    with client_for(server, team["bob"]) as bob, client_for(server, team["mia"]) as mia:
        refused = new_run(bob, "bob", namespace="user:alice")
        assert _denied(refused)
        assert "another user's namespace" in refused.json()["error"]["message"]
        assert new_run(bob, "bob", namespace="user:bob").status_code == 201
        assert new_run(mia, "mia", namespace="user:alice").status_code == 201  # run:write:any


def test_a_project_binding_acts_only_inside_its_project(server: LiveServer, admin: httpx.Client) -> None:
    token = make_user(admin, "pat", None)
    bound = {"principal": "pat", "role": "developer", "scope": "project:fraud"}
    admin.post("/api/v1/bindings", json=bound).raise_for_status()
    with client_for(server, token) as pat:
        assert new_run(pat, "pat", namespace="project:fraud").status_code == 201
        assert _denied(new_run(pat, "pat", namespace="project:churn"))
        assert _denied(new_run(pat, "pat", namespace="user:pat"))
        outside = run_of(admin, "admin")
        assert _denied(pat.post(f"/api/v1/runs/{outside}/tags", json={"tags": {"a": "b"}}))


def test_models_versions_and_aliases_belong_to_their_authors(
    server: LiveServer, team: dict[str, str]
) -> None:
    with client_for(server, team["alice"]) as alice, client_for(server, team["bob"]) as bob:
        model_of(alice, "alice", "fraud")
        m, v = "/api/v1/models/fraud", "/api/v1/models/fraud/versions/1"
        attempts = [
            ("PATCH", m, {"description": "mine now", "at": NOW}),
            ("POST", f"{m}/tags", {"tags": {"x": "y"}, "at": NOW}),
            ("POST", f"{v}/tags", {"tags": {"x": "y"}}),
            ("DELETE", f"{v}/tags?key=x", None),
            ("PUT", f"{m}/aliases/candidate", {"version": 1, "at": NOW}),
            ("POST", f"{m}/aliases/candidate/delete", {"at": NOW}),
            ("POST", f"{m}/aliases/champion/protection", {"protected": False, "at": NOW}),
            ("DELETE", v, None),
            ("DELETE", m, None),
        ]
        for method, path, body in attempts:
            response = bob.request(method, path, json=body)
            assert _denied(response), f"bob could {method} {path}: {response.status_code}"
        # registering a new version of a shared model stays open to every developer
        assert new_version(bob, "bob", "fraud").status_code == 201
        assert alice.put(f"{m}/aliases/candidate", json={"version": 2, "at": NOW}).status_code == 200


def test_approval_needs_the_permission_and_four_eyes(server: LiveServer, team: dict[str, str]) -> None:
    with (
        client_for(server, team["alice"]) as alice,
        client_for(server, team["mia"]) as mia,
        client_for(server, team["vic"]) as vic,
    ):
        model_of(alice, "alice", "fraud")
        assert _denied(approve(alice, "fraud", 1))  # developers lack model:approve
        assert _denied(approve(vic, "fraud", 1))
        assert approve(mia, "fraud", 1).status_code == 200
        new_version(mia, "mia", "fraud").raise_for_status()
        own = approve(mia, "fraud", 2)
        assert _denied(own) and "four eyes" in own.json()["error"]["message"]
        assert mia.get("/api/v1/models/fraud/versions/2").json()["approved"] is False


def test_a_protected_alias_moves_only_with_its_permission(server: LiveServer, team: dict[str, str]) -> None:
    with client_for(server, team["alice"]) as alice, client_for(server, team["mia"]) as mia:
        model_of(alice, "alice", "fraud")
        approve(mia, "fraud", 1).raise_for_status()
        champion = "/api/v1/models/fraud/aliases/champion"
        refused = alice.put(champion, json={"version": 1, "at": NOW})
        assert _denied(refused) and "alias:set:protected" in refused.json()["error"]["message"]
        # case variants are the same alias (a look-alike cannot dodge the protection)
        assert _denied(alice.put("/api/v1/models/fraud/aliases/Champion", json={"version": 1, "at": NOW}))
        assert mia.put(champion, json={"version": 1, "at": NOW}).status_code == 200
        assert _denied(alice.post(f"{champion}/protection", json={"protected": False, "at": NOW}))


def test_narrowed_tokens_act_only_within_their_narrowing(server: LiveServer, team: dict[str, str]) -> None:
    with client_for(server, team["alice"]) as alice:
        read_only = alice.post("/api/v1/tokens", json={"name": "ro", "permissions": ["run:read"]})
        assert read_only.status_code == 201
        scoped = alice.post("/api/v1/tokens", json={"name": "ci", "scope": "project:fraud"}).json()["token"]
        unheld = alice.post("/api/v1/tokens", json={"name": "x", "permissions": ["model:approve"]})
        assert unheld.status_code == 400 and "model:approve" in unheld.json()["error"]["message"]
    with client_for(server, read_only.json()["token"]) as ro:
        assert ro.get("/api/v1/runs").status_code == 200
        assert _denied(new_run(ro, "alice"))
        wider = ro.post("/api/v1/tokens", json={"name": "wider", "permissions": ["run:write"]})
        assert wider.status_code == 403
        assert ro.post("/api/v1/tokens", json={"name": "same"}).status_code == 403  # lacks token:create
    with client_for(server, scoped) as ci:
        assert new_run(ci, "alice", namespace="project:fraud").status_code == 201
        assert _denied(new_run(ci, "alice"))  # user:alice is outside project:fraud
        who = ci.get("/api/v1/whoami").json()
        assert who["token_scope"] == "project:fraud" and who["permissions"] == []
        escape = ci.post("/api/v1/tokens", json={"name": "esc", "scope": "*"})
        assert escape.status_code == 403


def test_custom_roles_and_groups_grant_through_bindings(server: LiveServer, admin: httpx.Client) -> None:
    token = make_user(admin, "rev", "viewer")
    author = make_user(admin, "ann", "developer")
    with client_for(server, author) as ann, client_for(server, token) as rev:
        model_of(ann, "ann", "fraud")
        assert _denied(approve(rev, "fraud", 1))
        role = {"name": "approver", "permissions": ["model:read", "model:approve"]}
        assert admin.post("/api/v1/roles", json=role).status_code == 201
        bad = admin.post("/api/v1/roles", json={"name": "x", "permissions": ["model:fly"]})
        assert bad.status_code == 400 and "model:fly" in bad.json()["error"]["message"]
        admin.post("/api/v1/groups", json={"name": "reviewers"}).raise_for_status()
        admin.put("/api/v1/groups/reviewers/members/rev").raise_for_status()
        binding = {"principal": "reviewers", "principal_kind": "group", "role": "approver"}
        admin.post("/api/v1/bindings", json=binding).raise_for_status()
        assert approve(rev, "fraud", 1).status_code == 200  # token cache is 0 s in these tests
        assert admin.delete("/api/v1/roles/approver").status_code == 409  # still bound
        admin.delete("/api/v1/groups/reviewers/members/rev").raise_for_status()
        assert _denied(approve(rev, "fraud", 1))


def test_service_accounts_and_user_management_need_user_manage(
    server: LiveServer, admin: httpx.Client
) -> None:
    ci_token = make_user(admin, "ci-bot", "developer", kind="service")
    with client_for(server, ci_token) as ci:
        who = ci.get("/api/v1/whoami").json()
        assert who["kind"] == "service" and "run:write" in who["permissions"]
        assert _denied(ci.post("/api/v1/users", json={"name": "evil", "role": "admin"}))
        assert _denied(ci.post("/api/v1/bindings", json={"principal": "ci-bot", "role": "admin"}))
        assert _denied(ci.get("/api/v1/audit"))
    listed = admin.get("/api/v1/users", params={"kind": "service"}).json()["users"]
    assert [u["name"] for u in listed] == ["ci-bot"]
    admin.patch("/api/v1/users/ci-bot", json={"disabled": True}).raise_for_status()
    with client_for(server, ci_token) as ci:
        assert ci.get("/api/v1/whoami").status_code == 401


def test_metric_batches_check_the_owner_without_loading_the_run_each_time(
    server: LiveServer, team: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata = server.stores.metadata
    real, loads = metadata.get_run, []

    def counting(run_id: str):  # type: ignore[no-untyped-def]
        loads.append(run_id)
        return real(run_id)

    with client_for(server, team["alice"]) as alice, client_for(server, team["bob"]) as bob:
        run = run_of(alice, "alice")
        monkeypatch.setattr(metadata, "get_run", counting)
        for step in range(5):
            body = {"metrics": [["loss", 1.0, step, 0]]}
            assert alice.post(f"/api/v1/runs/{run}/metrics", json=body).status_code == 204
            assert _denied(bob.post(f"/api/v1/runs/{run}/metrics", json=body))
        assert len(loads) <= 1  # ten checked batches, one read of the run
        assert alice.delete(f"/api/v1/runs/{run}").status_code == 204
        same_id = {"id": run, "name": "r", "namespace": "user:bob", "user": "bob", "start_time": NOW}
        assert bob.post("/api/v1/runs", json=same_id).status_code == 201  # the id, now bob's
        assert _denied(alice.post(f"/api/v1/runs/{run}/tags", json={"tags": {"a": "b"}}))
