"""A private project's runs are invisible to outsiders: 404 on the run and everything under it, left
out of lists and counts (REST and UI); server-wide grants stop at it, admins and its members see it."""

from __future__ import annotations

import httpx
import pytest

from tests.server.access_helpers import client_for, make_user, run_of, task_of
from tests.server.live import LiveServer


@pytest.fixture
def people(server: LiveServer, admin: httpx.Client) -> dict[str, str]:
    tokens = {
        "insider": make_user(admin, "insider", None),
        "outsider": make_user(admin, "outsider", "maintainer"),
    }
    admin.post("/api/v1/projects", json={"name": "fraud", "private": True}).raise_for_status()
    bound = {"principal": "insider", "role": "developer", "scope": "project:fraud"}
    admin.post("/api/v1/bindings", json=bound).raise_for_status()
    return tokens


def test_outsiders_cannot_see_a_private_projects_runs(
    server: LiveServer, admin: httpx.Client, people: dict[str, str]
) -> None:
    with client_for(server, people["insider"]) as insider, client_for(server, people["outsider"]) as outsider:
        secret_run = run_of(insider, "insider", namespace="project:fraud")
        task = task_of(insider, secret_run)
        public_run = run_of(outsider, "outsider")
        for path in (
            f"/api/v1/runs/{secret_run}",
            f"/api/v1/runs/{secret_run}/tasks",
            f"/api/v1/runs/{secret_run}/metric-history?key=loss",
            f"/api/v1/runs/{secret_run}/artifacts",
            f"/api/v1/tasks/{task}",
            f"/ui/runs/{secret_run}",
        ):
            answer = outsider.get(path)
            assert answer.status_code == 404, f"{path}: {answer.status_code}"
            assert insider.get(path).status_code in (200, 404 if "metric" in path else 200)
        assert outsider.post(f"/api/v1/runs/{secret_run}/tags", json={"tags": {"a": "b"}}).status_code == 404
        listed = {r["id"] for r in outsider.get("/api/v1/runs").json()["runs"]}
        assert secret_run not in listed and public_run in listed
        assert outsider.get("/api/v1/runs-count").json()["count"] == 1  # counts do not reveal it
        assert admin.get("/api/v1/runs-count").json()["count"] == 2  # admins see every project
        assert insider.get("/api/v1/runs-count").json()["count"] == 2
        assert secret_run not in outsider.get("/ui/runs").text
        assert (
            outsider.get("/ui/compare", params=[("run", secret_run), ("run", public_run)]).status_code == 404
        )
        assert [p["name"] for p in outsider.get("/api/v1/projects").json()["projects"]] == []
        assert [p["name"] for p in insider.get("/api/v1/projects").json()["projects"]] == ["fraud"]
        refused = outsider.post(
            "/api/v1/runs",
            json={
                "id": "f" * 32,
                "name": "x",
                "namespace": "project:fraud",
                "user": "outsider",
                "start_time": "2026-01-01T00:00:00+00:00",
            },
        )
        assert refused.status_code == 403
        admin.patch("/api/v1/projects/fraud", json={"private": False}).raise_for_status()
        assert outsider.get(f"/api/v1/runs/{secret_run}").status_code == 200  # public again
