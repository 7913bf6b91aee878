"""``shipyard sync`` against a real local git repository whose commits the test makes: a new
commit is applied (its release records the commit), only what changed is applied, nothing
changes twice, drift is reported and self-healed, deletes wait for --prune, a broken spec and a
refused model leave the environment degraded and its state as it was, a webhook wakes the loop."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from shipyard.cli.main import main
from shipyard.core.errors import InvalidInputError
from shipyard.deploy.apply import apply
from shipyard.deploy.source import read_spec
from shipyard.deploy.sync import Syncer, SyncOptions, SyncPass, parse_interval
from shipyard.metadata import open_metadata_store
from tests.deploy.delivery_world import SPEC, T0, World, open_world, sqlite_uri


def git(root: Path, *args: str) -> str:
    cmd = ["git", "-C", str(root), "-c", "user.name=Bob", "-c", "user.email=bob@example.com", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, text: str, message: str) -> str:
    (repo / "shipyard.yaml").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def _ready(world: World) -> None:
    world.alias("candidate", world.register(approved=True))
    world.secret("db", "staging")
    world.secret("db", "production")


def _syncer(world: World, repo: Path | str, tmp_path: Path, **options: object) -> Syncer:
    return Syncer(
        SyncOptions(repo=str(repo), **options),  # type: ignore[arg-type]
        tmp_path / "home",
        world.delivery,
        lambda: world.facts("alice"),
        "alice",
    )


def _by_env(done: SyncPass) -> dict[str, tuple[str, str | None]]:
    return {e.environment: (e.report.status, e.report.reason) for e in done.environments}


def _releases(world: World, env: str) -> list[int]:
    return [r.number for r in world.delivery.list_releases("fraud", env)]


def _replicas(world: World, env: str) -> int:
    [api] = [o for o in world.delivery.list_objects("fraud", env) if o.name == "api"]
    return int(api.spec["replicas"])


def test_sync_applies_commits_reports_drift_and_heals(world: World, repo: Path, tmp_path: Path) -> None:
    _ready(world)
    first = commit(repo, SPEC, "first")
    syncer = _syncer(world, repo, tmp_path)

    done = syncer.sync_once()
    assert done.project == "fraud" and done.head is not None and done.head.commit == first
    assert _by_env(done) == {"staging": ("synced", None), "production": ("synced", None)}
    release = world.delivery.get_release("fraud", "staging", 1)
    assert release.commit == first and release.author == "Bob <bob@example.com>"
    assert release.outcome == "applied" and release.changes == 5
    status = world.delivery.get_sync("fraud", "production")
    assert status is not None and status.status == "synced" and status.revision == first
    assert status.synced_revision == first and status.release == 1 and status.running_commit == first
    assert status.repo == str(repo.resolve()) and status.branch == "main" and status.checked_by == "alice"

    # no new commit: nothing to apply, no release
    again = syncer.sync_once()
    assert _by_env(again)["staging"] == ("synced", None)
    assert _releases(world, "staging") == [1] and _releases(world, "production") == [1]

    # a commit changes staging's replicas only (production overrides them): one release, one change
    second = commit(repo, SPEC.replace("replicas: 1", "replicas: 3"), "scale staging")
    done = syncer.sync_once()
    assert _by_env(done) == {"staging": ("synced", None), "production": ("synced", None)}
    assert _releases(world, "staging") == [2, 1] and _releases(world, "production") == [1]
    changed = world.delivery.get_release("fraud", "staging", 2)
    assert changed.commit == second
    assert [(c["action"], c["kind"], c["name"]) for c in (changed.plan or {})["changes"]] == [
        ("update", "service", "api")
    ]
    assert _replicas(world, "staging") == 3

    # drift: someone applies the previous commit by hand; git did not move
    old = read_spec(repo / "shipyard.yaml", "HEAD~1")
    apply(old.spec, "staging", delivery=world.delivery, facts=world.facts(), user="carol", commit=old.commit)
    assert _replicas(world, "staging") == 1
    done = syncer.sync_once()
    state, reason = _by_env(done)["staging"]
    assert state == "out-of-sync" and reason is not None
    assert "1 object(s) differ from git at " + second[:12] in reason and "update service api" in reason
    assert _by_env(done)["production"] == ("synced", None)
    assert _releases(world, "staging") == [3, 2, 1]  # the hand apply only: sync applied nothing
    drifted = world.delivery.get_sync("fraud", "staging")
    assert drifted is not None and drifted.drift == [{"action": "update", "kind": "service", "name": "api"}]
    assert drifted.release == 3 and drifted.running_commit == first  # what runs: the hand apply
    assert _replicas(world, "staging") == 1

    # --self-heal re-applies git's state
    healed = _syncer(world, repo, tmp_path, self_heal=True).sync_once()
    assert _by_env(healed)["staging"] == ("synced", None)
    assert _replicas(world, "staging") == 3
    back = world.delivery.get_release("fraud", "staging", 4)
    assert back.commit == second and back.applied_by == "alice"
    status = world.delivery.get_sync("fraud", "staging")
    assert status is not None and (status.status, status.release, status.drift) == ("synced", 4, [])


def test_a_removed_deployment_waits_for_prune(world: World, repo: Path, tmp_path: Path) -> None:
    _ready(world)
    commit(repo, SPEC, "first")
    _syncer(world, repo, tmp_path).sync_once()
    names = {o.name for o in world.delivery.list_objects("fraud", "staging")}
    assert "nightly" in names
    without = SPEC.split("  nightly:")[0] + "flows:" + SPEC.split("\nflows:")[1]
    assert "nightly" not in without
    gone = commit(repo, without, "drop nightly")

    done = _syncer(world, repo, tmp_path).sync_once()
    state, reason = _by_env(done)["staging"]
    assert state == "out-of-sync" and reason is not None
    assert "1 object(s) git no longer declares kept (delete batch nightly)" in reason and "--prune" in reason
    assert "nightly" in {o.name for o in world.delivery.list_objects("fraud", "staging")}
    assert _by_env(done)["production"] == ("synced", None)  # production never had it
    again = _syncer(world, repo, tmp_path).sync_once()  # still kept, still said, no release
    assert _by_env(again)["staging"][0] == "out-of-sync" and _releases(world, "staging") == [1]

    pruned = _syncer(world, repo, tmp_path, prune=True).sync_once()
    assert _by_env(pruned)["staging"] == ("synced", None)
    assert "nightly" not in {o.name for o in world.delivery.list_objects("fraud", "staging")}
    release = world.delivery.get_release("fraud", "staging", 2)
    assert release.commit == gone
    assert [(c["action"], c["name"]) for c in (release.plan or {})["changes"]] == [("delete", "nightly")]


def test_a_broken_spec_and_a_refused_model_degrade_and_keep_the_state(
    world: World, repo: Path, tmp_path: Path
) -> None:
    _ready(world)
    commit(repo, SPEC, "first")
    syncer = _syncer(world, repo, tmp_path)
    syncer.sync_once()
    before = {env: world.delivery.list_objects("fraud", env) for env in ("staging", "production")}

    broken = commit(repo, SPEC.replace("replicas: 1", "replica: 1"), "typo")
    done = syncer.sync_once()
    assert done.degraded
    for env in ("staging", "production"):
        state, reason = _by_env(done)[env]
        assert state == "degraded" and reason is not None
        assert f"shipyard.yaml@{broken[:12]}:" in reason
        assert "deployments.api.replica: unknown key" in reason
        status = world.delivery.get_sync("fraud", env)
        assert status is not None and status.status == "degraded" and status.revision == broken
        assert status.release == 1 and status.synced_revision != broken  # still runs the first
        assert world.delivery.list_objects("fraud", env) == before[env] and _releases(world, env) == [1]

    # a fixed spec naming a version that is not approved: staging takes it, production refuses
    unapproved = world.register(approved=False)
    fixed = commit(repo, SPEC.replace("models:/fraud@candidate", f"models:/fraud/{unapproved}"), "v2")
    done = syncer.sync_once()
    assert _by_env(done)["staging"] == ("synced", None)
    state, reason = _by_env(done)["production"]
    assert state == "degraded"
    assert reason is not None and reason.startswith(
        f"refused: shipyard.yaml@{fixed[:12]}:16:5: production: model fraud v{unapproved} is not approved"
    )
    assert (
        _releases(world, "production") == [1]
        and world.delivery.list_objects("fraud", "production") == (before["production"])
    )
    # the approval arrives: the next pass applies the same commit (a refused one is retried)
    world.registry.set_approval("fraud", unapproved, True, user="carol", at=T0)
    done = syncer.sync_once()
    assert _by_env(done)["production"] == ("synced", None)
    assert world.delivery.get_release("fraud", "production", 2).commit == fixed


def test_a_webhook_wakes_the_loop_before_its_interval(world: World, repo: Path, tmp_path: Path) -> None:
    _ready(world)
    commit(repo, SPEC, "first")
    syncer = _syncer(world, repo, tmp_path, interval_s=60.0, wake_check_s=0.1, environments=("staging",))
    passes: list[SyncPass] = []
    stop = threading.Event()
    thread = threading.Thread(target=syncer.run, args=(stop, passes.append))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not passes and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(passes) == 1 and _by_env(passes[0]) == {"staging": ("synced", None)}
        second = commit(repo, SPEC.replace("replicas: 1", "replicas: 5"), "scale")
        time.sleep(0.5)
        assert len(passes) == 1  # a 60 s interval: no pass without a wake-up
        asked = time.monotonic()
        assert world.delivery.request_sync("fraud", "staging", by="github") == 1
        while len(passes) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        took = time.monotonic() - asked
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive()
    assert len(passes) == 2 and took < 5, took
    assert passes[1].head is not None and passes[1].head.commit == second
    assert _replicas(world, "staging") == 5
    status = world.delivery.get_sync("fraud", "staging")
    assert status is not None and status.wake == 1 and status.woken_at is not None


def test_parse_interval() -> None:
    assert parse_interval("30s") == 30 and parse_interval("1m30s") == 90 and parse_interval("500ms") == 0.5
    for bad in ("", "30", "soon", "-5s", "0s", "48h"):
        with pytest.raises(InvalidInputError, match="--interval"):
            parse_interval(bad)


def test_the_sync_commands(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_URI", sqlite_uri(tmp_path))
    monkeypatch.setenv("SHIPYARD_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    world = open_world(open_metadata_store(sqlite_uri(tmp_path)))
    try:
        _ready(world)
        head = commit(repo, SPEC, "first")
        assert main(["sync", "--repo", str(repo), "--once", "-e", "staging"]) == 0
        out = capsys.readouterr().out
        assert (
            f"sync fraud at {head[:12]}" in out
            and f"staging: synced at {head[:12]}, release 1 applied" in out
        )
        assert main(["sync", "status", "--json"]) == 0
        [row] = json.loads(capsys.readouterr().out)["syncs"]
        assert (row["environment"], row["status"], row["revision"]) == ("staging", "synced", head)
        commit(repo, SPEC.replace("replicas: 1", "replica: 1"), "typo")
        assert main(["sync", "--repo", str(repo), "--once", "--json"]) == 1
        passed = json.loads(capsys.readouterr().out)
        assert {e["environment"]: e["status"] for e in passed["environments"]} == {
            "staging": "degraded",
            "production": "degraded",
        }
        assert main(["sync", "status"]) == 0
        assert "degraded" in capsys.readouterr().out
        assert main(["sync", "--repo", str(repo), "--once", "--interval", "soon"]) == 1
        assert "error: --interval 'soon' is not a duration" in capsys.readouterr().err
        assert main(["sync", "--once"]) == 1
        assert "error: give the repository to follow" in capsys.readouterr().err
        assert main(["sync", "--repo", str(tmp_path / "nowhere"), "--once"]) == 1
        assert "error: no git repository at" in capsys.readouterr().err
        assert main(["sync", "--repo", str(repo), "--branch", "--upload-pack=x", "--once"]) == 1
        assert "invalid branch" in capsys.readouterr().err
    finally:
        world.metadata.close()


def test_git_errors_degrade_without_the_credentials(world: World, tmp_path: Path) -> None:
    from shipyard.deploy.gitrepo import shown_repo

    assert shown_repo("https://bob:s3cret@git.example.com/fraud.git") == "https://git.example.com/fraud.git"
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    done = _syncer(world, empty, tmp_path, project="fraud", environments=("staging",)).sync_once()
    state, reason = _by_env(done)["staging"]
    assert state == "degraded" and reason is not None and reason.startswith("git: git fetch of ")
    status = world.delivery.get_sync("fraud", "staging")
    assert status is not None and status.status == "degraded" and status.revision is None
    # a URL's password fetches but is never shown (loopback port 1: refused at once, no network)
    secret = "https://bob:s3cret@127.0.0.1:1/fraud.git"
    done = _syncer(world, secret, tmp_path, project="fraud", environments=("staging",)).sync_once()
    [env] = done.environments
    assert env.report.status == "degraded" and "s3cret" not in (env.report.reason or "")
    assert env.report.repo == "https://127.0.0.1:1/fraud.git"
    stored = world.delivery.get_sync("fraud", "staging")
    assert stored is not None and "s3cret" not in f"{stored.reason}{stored.repo}"


def test_apply_without_prune_keeps_what_the_spec_dropped(world: World) -> None:
    from tests.deploy.delivery_world import spec_of

    _ready(world)
    apply(spec_of(), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    without = spec_of(SPEC.split("  nightly:")[0] + "flows:" + SPEC.split("\nflows:")[1])
    kept = apply(without, "staging", delivery=world.delivery, facts=world.facts(), user="alice", prune=False)
    assert kept.release is None and [(c.action, c.name) for c in kept.held] == [("delete", "nightly")]
    assert kept.message == (
        "fraud/staging: no changes applied; 1 object(s) the spec no longer declares kept "
        "(batch nightly): prune to delete"
    )
    assert "nightly" in {o.name for o in world.delivery.list_objects("fraud", "staging")}
    pruned = apply(without, "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    assert pruned.release is not None and pruned.held == ()
    assert "nightly" not in {o.name for o in world.delivery.list_objects("fraud", "staging")}
