"""The local runtime's plans (what ``shipyard agent`` runs for each deployment), the desired state
read from a spec file, and the agent's files: no process is started here."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.core.errors import ConfigurationError, InvalidInputError
from shipyard.deploy.agent import SpecFileState
from shipyard.deploy.agent.commands import (
    batch_plan,
    child_environment,
    flow_plan,
    secrets_read,
    service_plan,
)
from shipyard.deploy.agent.files import PortBook
from shipyard.deploy.spec.models import BatchJob, FlowSchedule, Service

SPEC = textwrap.dedent(
    """\
    project: {name: fraud}
    environments:
      staging:
        namespace: team-fraud
        policies: {secrets: [db], data: {datasets: [transactions]}}
        settings: {DB_URL: "postgresql://app:${secret:db}@db/fraud", MODE: staging}
      production: {}
    deployments:
      api:
        model: models:/fraud@champion
        routes: [{model: "models:/fraud@candidate", weight: 10}]
      nightly:
        kind: batch
        model: models:/fraud/2
        input: datasets:/transactions@latest
        output: out/scores.parquet
        schedule: "0 2 * * *"
        environments: [staging]
    flows:
      retrain: {file: flows/train.py, params: {n: 3}, schedule: "@daily", environment: staging}
      adhoc: {file: flows/adhoc.py}
    overrides:
      production:
        deployments: {api: {replicas: 3}}
    """
)


def test_service_plan_pins_versions_and_maps_routes() -> None:
    dep = Service(
        model="models:/fraud@champion",
        routes=[
            {"model": "models:/fraud@candidate", "weight": 10},
            {"model": "models:/fraud/7", "mode": "shadow"},
        ],
        secrets=["db"],
        features=["customer"],
        replicas=2,
    )
    plan = service_plan("api", dep, {"models:/fraud@champion": 3, "models:/fraud@candidate": 4}, {})
    argv = plan.argv(9001)
    assert argv[1:4] == ["-m", "shipyard.cli.main", "serve"]
    assert argv[4] == "models:/fraud/3" and plan.version == "fraud/3" and plan.replicas == 2
    joined = " ".join(argv)
    assert "--route 3=90 --route 4=10" in joined
    assert "--shadow 7" in joined
    assert "--secret db" in joined and "--features customer" in joined
    assert "--deployment api" in joined and argv[-2:] == ["--port", "9001"]
    assert "--no-auth" not in argv and "--forwarded-allow-ips" not in argv
    # an unresolved alias is passed on as the alias
    plain = service_plan("api", Service(model="models:/fraud@champion"), {}, {})
    assert plain.argv(1)[4] == "models:/fraud@champion" and plain.version == "fraud@champion"


def test_fingerprint_is_what_a_rollout_compares() -> None:
    one = service_plan("api", Service(model="models:/fraud/1"), {}, {"A": "x"})
    assert (
        one.fingerprint == service_plan("api", Service(model="models:/fraud/1"), {}, {"A": "x"}).fingerprint
    )
    # replicas scale in place: not a rollout
    three = service_plan("api", Service(model="models:/fraud/1", replicas=3), {}, {"A": "x"})
    assert three.fingerprint == one.fingerprint and three.replicas == 3
    assert (
        service_plan("api", Service(model="models:/fraud/2"), {}, {"A": "x"}).fingerprint != one.fingerprint
    )
    assert (
        service_plan("api", Service(model="models:/fraud/1"), {}, {"A": "y"}).fingerprint != one.fingerprint
    )
    # an alias that moved is a new version: a rollout
    alias = Service(model="models:/fraud@champion")
    moved = service_plan("api", alias, {"models:/fraud@champion": 2}, {})
    assert moved.fingerprint != service_plan("api", alias, {"models:/fraud@champion": 1}, {}).fingerprint
    autoscaled = Service(model="models:/fraud/1", autoscaling={"min_replicas": 2, "max_replicas": 5})
    assert service_plan("api", autoscaled, {}, {}).replicas == 2


def test_service_plan_refuses_what_the_local_runtime_cannot_run() -> None:
    other = Service(model="models:/fraud/1", routes=[{"model": "models:/churn/1", "weight": 5}])
    with pytest.raises(InvalidInputError, match="not a version of fraud"):
        service_plan("api", other, {}, {})
    two_shadows = Service(
        model="models:/fraud/1",
        routes=[
            {"model": "models:/fraud/2", "mode": "shadow"},
            {"model": "models:/fraud/3", "mode": "shadow"},
        ],
    )
    with pytest.raises(InvalidInputError, match="at most one shadow"):
        service_plan("api", two_shadows, {}, {})
    with pytest.raises(InvalidInputError, match="whole percents"):
        service_plan(
            "api",
            Service(model="models:/fraud/1", routes=[{"model": "models:/fraud/2", "weight": 2.5}]),
            {},
            {},
        )
    open_service = Service(model="models:/fraud/1", tokens={"required": False})
    assert "--no-auth" in service_plan("api", open_service, {}, {}).argv(1)
    with pytest.raises(InvalidInputError, match="loopback only"):
        service_plan("api", open_service, {}, {}, trust_router=True)
    trusted = service_plan("api", Service(model="models:/fraud/1"), {}, {}, trust_router=True)
    assert "--forwarded-allow-ips" in trusted.argv(1)


def test_job_plans() -> None:
    batch = BatchJob(
        kind="batch",
        model="models:/fraud@champion",
        input="datasets:/transactions@latest",
        output="out.parquet",
        secrets=["db"],
    )
    plan = batch_plan("nightly", batch, {"models:/fraud@champion": 5}, {})
    assert plan.key == "batch:nightly" and plan.schedule is None and plan.secrets == ("db",)
    assert plan.argv[3:] == (
        "batch",
        "models:/fraud/5",
        "datasets:/transactions@latest",
        "out.parquet",
        "--quiet",
    )
    flow = FlowSchedule(
        file="flows/train.py", flow="train", params={"n": 3, "name": "x"}, schedule="0 * * * *"
    )
    fplan = flow_plan("retrain", flow, {})
    assert fplan.key == "flow:retrain" and fplan.schedule == "0 * * * *"
    assert list(fplan.argv[3:]) == [
        "run", "flows/train.py", "--quiet", "--flow", "train", "--param", "n=3", "--param", "name=x",
    ]  # fmt: skip


def test_child_environment_resolves_secrets_and_names_the_perimeter() -> None:
    settings = {"DB_URL": "postgresql://app:${secret:db}@db/x", "MODE": "staging"}
    assert secrets_read(settings, ["api_key"]) == ["api_key", "db"]
    env = child_environment(
        {"PATH": "/bin", "SHIPYARD_SERVING_CONFIG": "{}", "MODE": "dev"},
        project="fraud",
        environment="staging",
        settings=settings,
        secret_values={"db": "s3cr3t", "api_key": "k"},
        expose=["api_key"],
    )
    assert env["DB_URL"] == "postgresql://app:s3cr3t@db/x" and env["MODE"] == "staging"
    assert env["SHIPYARD_PROJECT"] == "fraud" and env["SHIPYARD_ENVIRONMENT"] == "staging"
    assert env["API_KEY"] == "k" and env["PATH"] == "/bin"
    assert "SHIPYARD_SERVING_CONFIG" not in env  # never the agent's own per-process serving config


def test_spec_file_state_is_the_environment_view(tmp_path: Path) -> None:
    path = tmp_path / "shipyard.yaml"
    path.write_text(SPEC)
    seen: list[str] = []

    def resolve(ref: str) -> int | None:
        seen.append(ref)
        return {"models:/fraud@champion": 3, "models:/fraud/2": 2}.get(ref)

    staging = SpecFileState(path, resolve).desired("staging")
    assert staging.project == "fraud" and staging.environment == "staging" and staging.root == tmp_path
    assert set(staging.deployments) == {"api", "nightly"} and set(staging.flows) == {"retrain"}
    assert staging.settings["MODE"] == "staging" and staging.namespace == "team-fraud"
    api = staging.deployments["api"]
    assert api.versions == {"models:/fraud@champion": 3}  # candidate did not resolve: left out
    assert "models:/fraud@candidate" in seen
    production = SpecFileState(path).desired("production")
    assert set(production.deployments) == {"api"} and not production.flows
    spec = production.deployments["api"].spec
    assert isinstance(spec, Service) and spec.replicas == 3 and production.deployments["api"].versions == {}
    with pytest.raises(InvalidInputError, match="no environment 'qa'; known: staging, production"):
        SpecFileState(path).desired("qa")
    path.write_text(SPEC.replace("name: fraud", "name: Fraud!"))
    with pytest.raises(InvalidInputError, match=r"shipyard.yaml:1:\d+"):
        SpecFileState(path).desired("staging")


def test_port_book_keeps_ports_and_refuses_a_bad_file(tmp_path: Path) -> None:
    book = PortBook(tmp_path / "ports.json")
    assert book.get("api") is None
    book.record("api", 8100)
    assert PortBook(tmp_path / "ports.json").get("api") == 8100
    (tmp_path / "ports.json").write_text('{"api": "eighty"}')
    with pytest.raises(ConfigurationError, match="must map deployment names to ports"):
        PortBook(tmp_path / "ports.json")
    (tmp_path / "ports.json").write_text("{")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        PortBook(tmp_path / "ports.json")


def test_agent_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli.main import main

    assert main(["agent", "-e", "dev", "-f", str(tmp_path / "none.yaml")]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"error: no spec at {tmp_path / 'none.yaml'}; create shipyard.yaml at the project's root"
    )
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    assert main(["agent", "-e", "qa", "-f", str(tmp_path / "shipyard.yaml")]) == 1
    assert "no environment 'qa'; known: staging, production" in capsys.readouterr().err
    assert main(["agent"]) == 2
    assert "name the environment to run" in capsys.readouterr().err
    assert main(["agent", "status", "-e", "staging"]) == 1
    assert "no agent status for 'staging'" in capsys.readouterr().err


def test_agent_status_shows_what_the_agent_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    from shipyard.cli.main import main
    from shipyard.deploy.agent.files import write_json

    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    status = {
        "agent": {
            "pid": os.getpid(),
            "running": True,
            "environment": "staging",
            "updated_at": "t",
            "error": None,
        },
        "deployments": {
            "api": {
                "kind": "service",
                "address": "http://127.0.0.1:8100",
                "state": "rollout-failed",
                "version": "fraud/1",
                "backends": [{"pid": 4242, "state": "ready"}],
                "error": "rollout of fraud/3 failed: not ready within 180 s; still serving fraud/1",
            },
            "nightly": {"kind": "batch", "schedule": "0 2 * * *", "state": "idle", "last_exit": "exit 0"},
        },
        "flows": {},
    }
    write_json(tmp_path / "agent" / "staging" / "status.json", status)
    assert main(["agent", "status", "-e", "staging"]) == 0
    out = capsys.readouterr().out
    assert "agent staging" in out and "running" in out
    assert "http://127.0.0.1:8100" in out and "rollout-failed" in out and "4242" in out
    assert "cron 0 2 * * *" in out and "exit 0" in out
    assert main(["agent", "status", "-e", "staging", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["deployments"] == status["deployments"] and shown["agent"]["alive"] is True
    status["agent"]["pid"] = 2**22 + 7  # a pid that does not exist: the agent died
    write_json(tmp_path / "agent" / "staging" / "status.json", status)
    assert main(["agent", "status", "-e", "staging"]) == 0
    assert "NOT RUNNING" in capsys.readouterr().out


def test_what_a_killed_agent_left_is_stopped_and_nothing_else() -> None:
    import subprocess
    import sys

    from shipyard.deploy.agent.files import created, stop_orphans

    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        records = [
            {"pid": left.pid, "created": created(left.pid)},
            {"pid": other.pid, "created": (created(other.pid) or 0) - 100},  # a reused pid: another process
            {"pid": "x"},
        ]
        assert stop_orphans(records) == [left.pid]
        assert left.wait(timeout=10) is not None and other.poll() is None
    finally:
        for proc in (left, other):
            proc.kill()
            proc.wait()
