"""Helpers for the access tests: users with built-in roles, their clients, runs and models they own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx

from tests.server.live import LiveServer

NOW = datetime.now(UTC).isoformat()


def make_user(admin: httpx.Client, name: str, role: str | None, kind: str = "user") -> str:
    """Create ``name`` with ``role`` at the server scope; return a fresh token of it."""
    admin.post("/api/v1/users", json={"name": name, "role": role, "kind": kind}).raise_for_status()
    made = admin.post("/api/v1/tokens", json={"name": "t", "user": name})
    made.raise_for_status()
    return str(made.json()["token"])


@contextmanager
def client_for(server: LiveServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def new_run(client: httpx.Client, user: str, namespace: str | None = None) -> httpx.Response:
    body = {
        "id": uuid.uuid4().hex,
        "name": "r",
        "namespace": namespace or f"user:{user}",
        "user": user,
        "start_time": NOW,
    }
    return client.post("/api/v1/runs", json=body)


def run_of(client: httpx.Client, user: str, namespace: str | None = None) -> str:
    made = new_run(client, user, namespace)
    made.raise_for_status()
    return str(made.json()["id"])


def task_of(client: httpx.Client, run_id: str) -> str:
    task_id = uuid.uuid4().hex
    body = {"tasks": [{"id": task_id, "run_id": run_id, "step": "train", "key": "train"}]}
    client.post("/api/v1/tasks", json=body).raise_for_status()
    return task_id


def model_of(client: httpx.Client, user: str, name: str) -> str:
    """A model ``name`` created by ``client`` with version 1 (unapproved)."""
    client.post("/api/v1/models", json={"name": name, "user": user, "at": NOW}).raise_for_status()
    new_version(client, user, name).raise_for_status()
    return name


def new_version(client: httpx.Client, user: str, name: str) -> httpx.Response:
    body = {
        "package_digest": "0" * 64,
        "package_size": 1,
        "flavor": "sklearn",
        "created_by": user,
        "created_at": NOW,
    }
    return client.post(f"/api/v1/models/{name}/versions", json=body)


def approve(client: httpx.Client, name: str, version: int) -> httpx.Response:
    return client.post(
        f"/api/v1/models/{name}/versions/{version}/approval", json={"approved": True, "at": NOW}
    )
