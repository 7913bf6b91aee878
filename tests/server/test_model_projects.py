"""Registered models belong to a project (issue 12): a model's scope is ``project:NAME`` when it has
one, so project bindings act on it, a private project's models answer 404 to outsiders (REST and
UI, reads included) and are left out of lists. Before, every model sat at the server scope: a
project-bound developer could create none, a project maintainer approve none, and every
``model:read`` holder read every model."""

from __future__ import annotations

import httpx
import pytest

from tests.server.access_helpers import NOW, approve, client_for, make_user, new_version, run_of
from tests.server.live import LiveServer


def _bind(admin: httpx.Client, principal: str, role: str, scope: str) -> None:
    admin.post(
        "/api/v1/bindings", json={"principal": principal, "role": role, "scope": scope}
    ).raise_for_status()


@pytest.fixture
def people(server: LiveServer, admin: httpx.Client) -> dict[str, str]:
    tokens = {
        "dev": make_user(admin, "dev", None),  # developer in project:fraud only
        "lead": make_user(admin, "lead", None),  # maintainer in project:fraud only
        "wide": make_user(admin, "wide", "developer"),  # developer at '*'
        "outsider": make_user(admin, "outsider", "maintainer"),  # maintainer at '*'
        "insider": make_user(admin, "insider", None),  # developer in the private project vault
    }
    _bind(admin, "dev", "developer", "project:fraud")
    _bind(admin, "lead", "maintainer", "project:fraud")
    admin.post("/api/v1/projects", json={"name": "vault", "private": True}).raise_for_status()
    _bind(admin, "insider", "developer", "project:vault")
    return tokens


def _create(client: httpx.Client, name: str, project: str | None = None) -> httpx.Response:
    body: dict[str, object] = {"name": name, "at": NOW}
    if project is not None:
        body["project"] = project
    return client.post("/api/v1/models", json=body)


def _first_version(client: httpx.Client, user: str, name: str, project: str) -> httpx.Response:
    body = {
        "package_digest": "0" * 64,
        "package_size": 1,
        "flavor": "sklearn",
        "created_by": user,
        "created_at": NOW,
        "project": project,
    }
    return client.post(f"/api/v1/models/{name}/versions", json=body)


def _denied(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_a_project_developer_creates_and_changes_own_models_only_there(
    server: LiveServer, people: dict[str, str]
) -> None:
    with client_for(server, people["dev"]) as dev, client_for(server, people["wide"]) as wide:
        made = _create(dev, "fraud-model", "fraud")
        assert made.status_code == 201 and made.json()["project"] == "fraud"
        assert new_version(dev, "dev", "fraud-model").status_code == 201
        assert (
            dev.post("/api/v1/models/fraud-model/tags", json={"tags": {"a": "b"}, "at": NOW}).status_code
            == 204
        )
        assert (
            dev.patch("/api/v1/models/fraud-model", json={"description": "d", "at": NOW}).status_code == 200
        )
        moved = dev.put("/api/v1/models/fraud-model/aliases/candidate", json={"version": 1, "at": NOW})
        assert moved.status_code == 200
        # nowhere else: not at the server scope, not in another project
        refused = _create(dev, "server-model")
        assert _denied(refused) and "project=" in refused.json()["error"]["message"]
        assert _denied(_create(dev, "churn-model", "churn"))
        assert _denied(_first_version(dev, "dev", "churn-model", "churn"))
        assert (
            _first_version(dev, "dev", "implicit", "fraud").status_code == 201
        )  # the first version creates it
        assert dev.get("/api/v1/models/implicit").json()["project"] == "fraud"
        # a '*' developer reaches a non-private project, and the server scope
        assert _create(wide, "wide-model").status_code == 201
        assert _create(wide, "wide-fraud", "fraud").status_code == 201
        assert _denied(new_version(dev, "dev", "wide-model"))  # a server model: not dev's scope
        assert new_version(wide, "wide", "fraud-model").status_code == 201  # model:write at project:fraud
        assert _denied(wide.patch("/api/v1/models/fraud-model", json={"description": "x", "at": NOW}))
        bad = _create(dev, "bad", "Fraud/Team")
        assert bad.status_code == 400 and "invalid project name" in bad.json()["error"]["message"]


def test_a_project_maintainer_approves_and_moves_protected_aliases_only_there(
    server: LiveServer, people: dict[str, str]
) -> None:
    with (
        client_for(server, people["dev"]) as dev,
        client_for(server, people["wide"]) as wide,
        client_for(server, people["lead"]) as lead,
    ):
        _create(dev, "fraud-model", "fraud").raise_for_status()
        new_version(dev, "dev", "fraud-model").raise_for_status()
        _create(wide, "server-model").raise_for_status()
        new_version(wide, "wide", "server-model").raise_for_status()
        assert approve(lead, "fraud-model", 1).status_code == 200
        champion = lead.put("/api/v1/models/fraud-model/aliases/champion", json={"version": 1, "at": NOW})
        assert champion.status_code == 200  # protected: alias:set:protected at project:fraud
        assert (
            lead.patch("/api/v1/models/fraud-model", json={"description": "x", "at": NOW}).status_code == 200
        )
        assert _denied(approve(lead, "server-model", 1))
        assert _denied(lead.patch("/api/v1/models/server-model", json={"description": "x", "at": NOW}))
        assert _denied(approve(dev, "fraud-model", 1))  # a developer never approves


def test_a_private_projects_models_are_invisible_to_outsiders(
    server: LiveServer, admin: httpx.Client, people: dict[str, str]
) -> None:
    with client_for(server, people["insider"]) as insider, client_for(server, people["outsider"]) as outsider:
        assert _create(insider, "secret", "vault").status_code == 201
        assert new_version(insider, "insider", "secret").status_code == 201
        assert _create(outsider, "public").status_code == 201
        paths = (
            "/api/v1/models/secret",
            "/api/v1/models/secret/versions",
            "/api/v1/models/secret/versions/1",
            "/api/v1/models/secret/versions/1/lineage",
            "/api/v1/models/secret/alias-history",
            "/ui/models/secret",
            "/ui/models/secret/versions/1",
        )
        for path in paths:
            assert outsider.get(path).status_code == 404, path
            assert insider.get(path).status_code == 200, path
            assert admin.get(path).status_code == 200, path
        assert outsider.get("/api/v1/models/secret/aliases/champion").status_code == 404
        for answer in (
            outsider.patch("/api/v1/models/secret", json={"description": "x", "at": NOW}),
            outsider.post("/api/v1/models/secret/tags", json={"tags": {"a": "b"}, "at": NOW}),
            outsider.delete("/api/v1/models/secret"),
            approve(outsider, "secret", 1),
            outsider.put("/api/v1/models/secret/aliases/candidate", json={"version": 1, "at": NOW}),
            new_version(outsider, "outsider", "secret"),
        ):
            assert answer.status_code == 404, answer.request.url
        assert _denied(_create(outsider, "mine", "vault"))

        def names(client: httpx.Client) -> list[str]:
            return [m["name"] for m in client.get("/api/v1/models").json()["models"]]

        assert names(outsider) == ["public"] and names(insider) == ["public", "secret"]
        assert names(admin) == ["public", "secret"]
        page = outsider.get("/api/v1/models", params={"limit": 1}).json()
        assert [m["name"] for m in page["models"]] == ["public"] and page["next_offset"] is None
        assert "secret" not in outsider.get("/ui/models").text
        listed = insider.get("/ui/models").text
        assert "secret" in listed and "<td>vault</td>" in listed  # the project column
        admin.patch("/api/v1/projects/vault", json={"private": False}).raise_for_status()
        assert outsider.get("/api/v1/models/secret").status_code == 200  # public again


def test_versions_found_by_run_or_artifact_leave_out_a_private_projects_models(
    server: LiveServer, admin: httpx.Client, people: dict[str, str]
) -> None:
    with client_for(server, people["insider"]) as insider, client_for(server, people["outsider"]) as outsider:
        run_id = run_of(outsider, "outsider")  # a public run that fed a private model
        _create(insider, "secret", "vault").raise_for_status()
        for client, user, name in ((insider, "insider", "secret"), (outsider, "outsider", "public")):
            body = {
                "package_digest": "0" * 64,
                "package_size": 1,
                "flavor": "sklearn",
                "created_by": user,
                "created_at": NOW,
                "run_id": run_id,
                "lineage": [
                    {
                        "artifact_id": "a" * 32,
                        "name": "features",
                        "digest": "1" * 64,
                        "run_id": run_id,
                        "task_id": None,
                        "serializer": "parquet",
                        "depth": 1,
                    }
                ],
            }
            client.post(f"/api/v1/models/{name}/versions", json=body).raise_for_status()

        def names(client: httpx.Client, path: str, params: dict[str, str]) -> list[str]:
            return [v["model_name"] for v in client.get(path, params=params).json()["versions"]]

        for path, params in (
            (f"/api/v1/runs/{run_id}/model-versions", {}),
            ("/api/v1/model-versions", {"digest": "1" * 64}),
        ):
            assert names(admin, path, params) == ["public", "secret"]
            assert names(outsider, path, params) == ["public"]


def test_a_models_profile_is_decided_at_the_models_scope(
    server: LiveServer, admin: httpx.Client, people: dict[str, str]
) -> None:
    profile = {"digest": "2" * 64, "rows": 10, "at": NOW}
    with (
        client_for(server, people["insider"]) as insider,
        client_for(server, people["outsider"]) as outsider,
        client_for(server, people["dev"]) as dev,
    ):
        _create(insider, "secret", "vault").raise_for_status()
        new_version(insider, "insider", "secret").raise_for_status()
        path = "/api/v1/monitoring/profiles/secret/1"
        assert insider.put(path, json=profile).status_code == 204
        assert insider.get(path).status_code == 200
        assert outsider.get(path).status_code == 404
        assert outsider.put(path, json=profile).status_code == 404
        assert outsider.put(path + "/importance", json={"importance": {"a": 1.0}}).status_code == 404
        assert admin.get(path).status_code == 200
        _create(outsider, "public").raise_for_status()
        new_version(outsider, "outsider", "public").raise_for_status()
        # a developer bound only in project:fraud writes no profile of a server-scope model
        assert _denied(dev.put("/api/v1/monitoring/profiles/public/1", json=profile))
        assert outsider.put("/api/v1/monitoring/profiles/public/1", json=profile).status_code == 204
