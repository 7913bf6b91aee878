"""Delivery around the library: concurrent applies serialized by the lock, a spec read at a git
ref (its commit recorded), and the ``shipyard plan | apply | rollback | releases`` commands."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from shipyard.cli.main import main
from shipyard.core.errors import ConflictError
from shipyard.deploy.apply import ApplyResult, apply
from shipyard.deploy.plan import Change
from shipyard.deploy.source import read_spec
from shipyard.metadata import open_metadata_store
from tests.deploy.delivery_world import SPEC, World, open_world, spec_of, sqlite_uri


class _Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = threading.Event()

    def apply(
        self, project: str, environment: str, changes: Sequence[Change]
    ) -> Mapping[tuple[str, str], str | None]:
        self.started.set()
        time.sleep(self.seconds)
        return {}


def _ready(world: World) -> None:
    world.alias("candidate", world.register(approved=True))
    world.secret("db", "staging")
    world.secret("db", "production")


def test_concurrent_applies_to_one_environment_are_serialized(world: World, tmp_path: Path) -> None:
    _ready(world)
    slow = _Slow(1.0)
    results: dict[str, ApplyResult] = {}

    def first() -> None:
        # its own connection, as another process would have
        other = open_world(open_metadata_store(sqlite_uri(tmp_path)))
        try:
            results["first"] = apply(
                spec_of(),
                "staging",
                delivery=other.delivery,
                facts=other.facts(),
                user="alice",
                actuator=slow,
            )
        finally:
            other.metadata.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert slow.started.wait(10)
    # a second apply meanwhile fails at once, naming who holds the environment ...
    with pytest.raises(
        ConflictError, match=r"fraud/staging is being applied by alice \(.+:\d+:[0-9a-f]{8}\)"
    ):
        apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts("bob"), user="bob")
    # ... or waits for it, then plans against what the first one left: nothing to do
    waited = apply(
        spec_of(), "staging", delivery=world.delivery, facts=world.facts("bob"), user="bob", lock_wait_s=20
    )
    thread.join(20)
    assert results["first"].release is not None and results["first"].release.outcome == "applied"
    assert waited.release is None
    assert [r.number for r in world.delivery.list_releases("fraud", "staging")] == [1]


def _git(root: Path, *args: str) -> str:
    cmd = ["git", "-C", str(root), "-c", "user.name=Bob", "-c", "user.email=bob@example.com", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def test_a_spec_is_read_at_a_git_ref_with_its_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "shipyard.yaml").write_text(SPEC)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "shipyard.yaml").write_text(SPEC.replace("replicas: 1", "replicas: 7"))
    _git(repo, "commit", "-qam", "second")
    old = read_spec(repo / "shipyard.yaml", "HEAD~1")
    assert old.commit == first and old.author == "Bob <bob@example.com>"
    assert old.spec.deployments["api"].replicas == 1  # type: ignore[union-attr]
    assert read_spec(repo / "shipyard.yaml", "HEAD").spec.deployments["api"].replicas == 7  # type: ignore[union-attr]
    with pytest.raises(Exception, match="git rev-parse"):
        read_spec(repo / "shipyard.yaml", "no-such-branch")
    with pytest.raises(Exception, match="invalid git ref"):
        read_spec(repo / "shipyard.yaml", "--output=/tmp/x")
    (repo / "shipyard.yaml").write_text(SPEC.replace("replicas: 1", "replica: 1"))
    _git(repo, "commit", "-qam", "broken")
    with pytest.raises(Exception, match=r"shipyard.yaml@HEAD:\d+:\d+: deployments.api.replica: unknown key"):
        read_spec(repo / "shipyard.yaml", "HEAD")


@pytest.fixture
def cli_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_URI", sqlite_uri(tmp_path))
    monkeypatch.setenv("SHIPYARD_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    return open_world(open_metadata_store(sqlite_uri(tmp_path)))


def test_the_commands(cli_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world = cli_world
    try:
        world.alias("candidate", world.register(approved=True))
        world.secret("db", "staging")
        world.alias("candidate", world.register(approved=False))
        assert main(["plan", "-e", "production"]) == 1  # unapproved for production, no db secret
        out = capsys.readouterr().out
        assert "FAIL shipyard.yaml:16:5: production: model fraud@candidate v2 is not approved" in out
        assert "FAIL shipyard.yaml:13:7: production: secret db does not exist in fraud/production" in out
        assert main(["plan", "-e", "staging", "--json"]) == 0
        planned = json.loads(capsys.readouterr().out)
        assert planned["summary"]["create"] == 5 and planned["refused"] is False
        assert main(["apply", "-e", "production"]) == 1
        captured = capsys.readouterr()
        assert "error: production: refused:" in captured.err and "Refused by 2 verdict(s)" in captured.out
        assert main(["apply", "-e", "staging"]) == 0
        assert "fraud/staging: release 1 applied (5 created, 0 updated, 0 deleted)" in capsys.readouterr().out
        assert main(["apply", "-e", "staging"]) == 0
        assert "no changes" in capsys.readouterr().out
        (Path("shipyard.yaml")).write_text(SPEC.replace("replicas: 1", "replicas: 3"))
        assert main(["apply", "-e", "staging"]) == 0
        capsys.readouterr()
        assert main(["releases", "list", "-e", "staging", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["releases"]
        assert [(r["number"], r["outcome"], r["applied_by"]) for r in listed] == [
            (2, "applied", "alice"),
            (1, "applied", "alice"),
        ]
        assert main(["releases", "show", "-e", "staging", "2"]) == 0
        assert "~ service api" in capsys.readouterr().out
        assert main(["rollback", "-e", "staging"]) == 0
        assert "release 3 applied" in capsys.readouterr().out
        assert main(["releases", "show", "-e", "staging", "9"]) == 1
        assert "error: release 9 of fraud/staging does not exist" in capsys.readouterr().err
        assert main(["plan", "-e", "qa"]) == 1
        assert "unknown environment 'qa'; the spec declares: staging, production" in capsys.readouterr().err
    finally:
        world.metadata.close()


def test_a_long_actuation_keeps_its_lock_past_the_ttl(world: World, tmp_path: Path) -> None:
    _ready(world)
    slow = _Slow(1.5)
    results: dict[str, ApplyResult] = {}

    def first() -> None:
        other = open_world(open_metadata_store(sqlite_uri(tmp_path)))
        try:
            results["first"] = apply(
                spec_of(),
                "staging",
                delivery=other.delivery,
                facts=other.facts(),
                user="alice",
                actuator=slow,
                lock_ttl_s=0.6,
            )
        finally:
            other.metadata.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert slow.started.wait(10)
    time.sleep(1.0)  # past the TTL: the lock was extended, so it is still held
    with pytest.raises(ConflictError, match="being applied by alice"):
        apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts("bob"), user="bob")
    thread.join(20)
    assert results["first"].release is not None and results["first"].release.outcome == "applied"
