"""``@step(secrets=["db_password"])``: the step sees DB_PASSWORD while it runs, and only then; the
stored task logs, params, tags and errors show *** instead of the value. Read from the local
database (with the key) or through a server (secret:read at the run's project/environment,
audited)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.entities import RunStatus
from shipyard.core.errors import FlowError
from shipyard.core.settings import Settings, load_settings
from shipyard.flows.decorators import step
from shipyard.runtime.api import FlowRun, RunOptions, run_file
from shipyard.runtime.logs import task_logs
from shipyard.runtime.stores import RunStores, open_run_stores
from shipyard.secrets import open_secrets_backend
from shipyard.server.app import ServerConfig
from tests.secrets.conftest import b64, new_key
from tests.server.access_helpers import client_for, make_user
from tests.server.live import LiveServer, live_server

FLOW = Path(__file__).resolve().parent / "flows" / "with_secrets.py"
VALUE = "hunter2-9f8e7d-NOT-IN-LOGS"


def _run(settings: Settings, flow: str) -> FlowRun:
    return run_file(FLOW, {}, settings, RunOptions(executor="local", max_workers=1), flow)


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, RunStores]]:
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(new_key()))
    settings = load_settings(home=tmp_path / "home", project="fraud", environment="staging")
    stores = open_run_stores(settings)
    open_secrets_backend(settings, stores.metadata).set(
        "fraud", "staging", "db_password", VALUE, by="me", at=_now()
    )
    try:
        yield settings, stores
    finally:
        stores.close()


def _now():  # type: ignore[no-untyped-def]
    from shipyard.core.clock import utcnow

    return utcnow()


def _check_redacted(stores: RunStores, run: FlowRun) -> None:
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.outputs("connect") == [{"sha256": hashlib.sha256(VALUE.encode()).hexdigest()}]  # saw it
    assert run.outputs("after") == [False]
    logs = {t.task.key: t for t in task_logs(stores, run.id)}
    assert logs["connect"].stdout.decode() == "connecting with ***\n"
    assert logs["connect"].stderr.decode() == "warning: *** on stderr\n"
    info = stores.metadata.get_run(run.id)
    assert info.params["dsn"] == "postgresql://app:***@db/fraud"
    assert info.tags["last_password"] == "***"
    assert VALUE not in repr(info)


def test_a_step_sees_its_secret_and_the_records_do_not(local: tuple[Settings, RunStores]) -> None:
    settings, stores = local
    _check_redacted(stores, _run(settings, "uses_secret"))


def test_a_secret_in_a_step_error_is_redacted(local: tuple[Settings, RunStores]) -> None:
    settings, stores = local
    run = _run(settings, "fails_with_secret")
    assert run.status is RunStatus.FAILED
    [task] = stores.metadata.list_tasks(run.id)
    assert task.error is not None and "cannot connect with ***" in task.error
    assert VALUE not in task.error and VALUE not in (run.error or "")


def test_a_run_without_project_and_environment_says_so(
    local: tuple[Settings, RunStores], tmp_path: Path
) -> None:
    settings, stores = local
    run = _run(settings.model_copy(update={"environment": None}), "uses_secret")
    assert run.status is RunStatus.FAILED
    [task] = [t for t in stores.metadata.list_tasks(run.id) if t.key == "connect"]
    assert "set SHIPYARD_PROJECT and SHIPYARD_ENVIRONMENT" in (task.error or "")
    missing = _run(settings.model_copy(update={"environment": "production"}), "uses_secret")
    [task] = [t for t in stores.metadata.list_tasks(missing.id) if t.key == "connect"]
    assert missing.status is RunStatus.FAILED and "does not exist in fraud/production" in (task.error or "")


def test_secret_names_are_checked_where_the_step_is_declared() -> None:
    def f() -> None: ...

    f.__qualname__ = "f"
    assert step(secrets=["db", "api_key"])(f).options_dict()["secrets"] == ["db", "api_key"]
    assert "secrets" not in step(f).options_dict()  # specs of steps without secrets are unchanged
    for bad, why in [
        ("db", "a list of names"),
        (["DB"], "invalid secret name"),
        (["db-pass"], "invalid secret name"),
        (["path"], "would replace the environment variable PATH"),
        (["shipyard_token"], "SHIPYARD_TOKEN"),
        (["db", "db"], "twice"),
    ]:
        with pytest.raises(FlowError, match=why):
            step(secrets=bad)(f)  # type: ignore[arg-type]


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(new_key()))
    with live_server(tmp_path / "srv", ServerConfig(token_cache_s=0.0)) as s:
        yield s


def test_through_a_server_the_run_needs_secret_read_and_each_read_is_audited(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client_for(server, server.token) as admin:
        admin.put("/api/v1/secrets/fraud/staging/db_password", json={"value": VALUE}).raise_for_status()
        ci = make_user(admin, "ci", "developer")  # developers may run flows but hold no secret:read
        bound = {"principal": "ci", "role": "maintainer", "scope": "project:fraud/env:staging"}
        admin.post("/api/v1/bindings", json=bound).raise_for_status()
        prod_only = make_user(admin, "prod-bot", "developer")
        bound = {"principal": "prod-bot", "role": "maintainer", "scope": "project:fraud/env:production"}
        admin.post("/api/v1/bindings", json=bound).raise_for_status()
    monkeypatch.setenv("SHIPYARD_TOKEN", ci)  # the REST store (and each worker) reads it from there
    common = {"home": tmp_path / "client", "uri": server.url, "project": "fraud", "environment": "staging"}
    settings = load_settings(**common, user="ci")
    stores = open_run_stores(settings)
    try:
        _check_redacted(stores, _run(settings, "uses_secret"))
        monkeypatch.setenv("SHIPYARD_TOKEN", prod_only)
        refused = _run(load_settings(**common, user="prod-bot"), "uses_secret")
        assert refused.status is RunStatus.FAILED
        [task] = [t for t in stores.metadata.list_tasks(refused.id) if t.key == "connect"]
        assert "secret:read" in (task.error or "") and VALUE not in (task.error or "")
    finally:
        stores.close()
    with client_for(server, server.token) as admin:
        events = admin.get("/api/v1/audit", params={"action": "READ secret"}).json()["events"]
    assert [(e["user"], e["status"]) for e in events] == [("ci", 200)]
