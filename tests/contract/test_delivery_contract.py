"""The DeliveryStore contract (shipyard.metadata.delivery) over every metadata backend: SQLite,
Postgres and a shipyard server (REST)."""

from __future__ import annotations

import time

import pytest

from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.metadata import MetadataStore
from shipyard.metadata.delivery import (
    DeliveryStore,
    EnvironmentState,
    ObjectState,
    ReleaseDraft,
    open_delivery_store,
)

H = "a" * 64


@pytest.fixture
def store(metadata_store: MetadataStore) -> DeliveryStore:
    return open_delivery_store(metadata_store)


def _svc(name: str, replicas: int = 1, version: str = "models:/fraud/1") -> ObjectState:
    return ObjectState("service", name, {"model": "models:/fraud@champion", "replicas": replicas}, version)


def _release(store: DeliveryStore, owner: str, put: list[ObjectState], remove=(), **draft: object) -> int:
    begun = store.begin_release(
        "fraud",
        "prod",
        ReleaseDraft(H, {"changes": len(put)}, **draft),
        owner=owner,
        by="alice",
        put=put,
        remove=remove,
    )
    assert begun.outcome == "applying"
    done = store.finish_release("fraud", "prod", begun.number, owner=owner, outcome="applied")
    return done.number


def test_releases_number_per_environment_and_keep_the_state_they_left(store: DeliveryStore) -> None:
    store.acquire_lock("fraud", "prod", owner="o1", by="alice")
    env = ObjectState("environment", "prod", {"settings": {"db": "${secret:db}"}})
    first = _release(store, "o1", [env, _svc("api"), _svc("batch-a")], commit="abc1234", author="bob")
    second = _release(
        store, "o1", [_svc("api", replicas=3, version="models:/fraud/2")], remove=[("service", "batch-a")]
    )
    assert (first, second) == (1, 2)
    objects = store.list_objects("fraud", "prod")
    assert [(o.kind, o.name, o.release) for o in objects] == [
        ("environment", "prod", 1),
        ("service", "api", 2),
    ]
    assert objects[1].spec["replicas"] == 3 and objects[1].model_version == "models:/fraud/2"
    assert store.desired("fraud", "prod") == objects
    assert [o.name for o in store.list_objects("fraud", "prod", limit=1, offset=1)] == ["api"]
    one = store.get_release("fraud", "prod", 1)
    assert one.commit == "abc1234" and one.author == "bob" and one.plan == {"changes": 3}
    assert one.state is not None and [s.name for s in one.state] == ["prod", "api", "batch-a"]
    releases = store.list_releases("fraud", "prod")
    assert [r.number for r in releases] == [2, 1] and releases[0].plan is None
    assert [r.number for r in store.list_releases("fraud", "prod", limit=1, offset=1)] == [1]
    assert store.list_releases("fraud", "staging") == [] and store.list_objects("fraud", "staging") == []
    with pytest.raises(NotFoundError, match="release 9 of fraud/prod"):
        store.get_release("fraud", "prod", 9)
    with pytest.raises(InvalidInputError):
        store.list_releases("fraud", "prod", limit=-1)
    envs = store.list_environments()
    assert [(e.project, e.environment, e.release, e.outcome, e.objects) for e in envs] == [
        ("fraud", "prod", 2, "applied", 2)
    ]


def test_the_lock_is_exclusive_until_it_expires_and_names_its_holder(store: DeliveryStore) -> None:
    held = store.acquire_lock("fraud", "prod", owner="host:1:aa", by="alice", ttl_s=1.0)
    assert held.owner == "host:1:aa" and store.get_lock("fraud", "prod") is not None
    with pytest.raises(ConflictError, match=r"being applied by .*host:1:aa"):
        store.acquire_lock("fraud", "prod", owner="host:2:bb", by="bob")
    assert store.acquire_lock("fraud", "staging", owner="host:2:bb", by="bob").owner == "host:2:bb"
    again = store.acquire_lock("fraud", "prod", owner="host:1:aa", by="alice", ttl_s=1.0)  # extends
    assert again.expires_at >= held.expires_at
    # a release needs the lock
    with pytest.raises(ConflictError, match="does not hold"):
        store.begin_release(
            "fraud", "prod", ReleaseDraft(H, {}), owner="host:2:bb", by="bob", put=[_svc("x")]
        )
    time.sleep(1.2)  # expired: the next applier takes it over
    assert store.get_lock("fraud", "prod") is None
    assert store.acquire_lock("fraud", "prod", owner="host:2:bb", by="bob").owner == "host:2:bb"
    assert not store.release_lock("fraud", "prod", owner="host:1:aa")
    assert store.release_lock("fraud", "prod", owner="host:2:bb")
    assert store.get_lock("fraud", "prod") is None


def test_a_failed_release_restores_objects_and_an_interrupted_one_is_marked(store: DeliveryStore) -> None:
    store.acquire_lock("fraud", "prod", owner="o1", by="alice")
    _release(store, "o1", [_svc("api")])
    begun = store.begin_release(
        "fraud", "prod", ReleaseDraft(H, {}), owner="o1", by="alice", put=[_svc("api", 5, "models:/fraud/2")]
    )
    assert store.list_objects("fraud", "prod")[0].spec["replicas"] == 5  # desired while applying
    failed = store.finish_release(
        "fraud",
        "prod",
        begun.number,
        owner="o1",
        outcome="failed",
        error="api never became ready",
        put=[_svc("api")],
    )
    assert failed.outcome == "failed" and failed.error == "api never became ready"
    assert store.list_objects("fraud", "prod")[0].spec["replicas"] == 1
    with pytest.raises(ConflictError, match="already finished"):
        store.finish_release("fraud", "prod", begun.number, owner="o1", outcome="applied")
    left = store.begin_release("fraud", "prod", ReleaseDraft(H, {}), owner="o1", by="alice", put=[_svc("b")])
    nxt = store.begin_release("fraud", "prod", ReleaseDraft(H, {}), owner="o1", by="alice", put=[_svc("c")])
    interrupted = store.get_release("fraud", "prod", left.number)
    assert interrupted.outcome == "failed" and "interrupted" in (interrupted.error or "")
    store.finish_release("fraud", "prod", nxt.number, owner="o1", outcome="applied")


def test_a_rollback_marks_the_release_it_replaced(store: DeliveryStore) -> None:
    store.acquire_lock("fraud", "prod", owner="o1", by="alice")
    _release(store, "o1", [_svc("api")])
    _release(store, "o1", [_svc("api", 2, "models:/fraud/2")])
    back = _release(store, "o1", [_svc("api")], kind="rollback", restores=1)
    assert store.get_release("fraud", "prod", back).restores == 1
    assert [r.outcome for r in store.list_releases("fraud", "prod")] == ["applied", "rolled-back", "applied"]


def test_what_a_plan_asks(store: DeliveryStore) -> None:
    applier = store.applier("fraud", "prod", user="admin")
    assert applier.can_apply and applier.name
    assert store.present_secrets("fraud", "prod", ["db", "api_key"]) == set()
    assert store.roles_at("fraud", "prod", "nobody-here") == ()  # the four-eyes gate's approver: none


def test_experiments_are_delivery_objects(store: DeliveryStore) -> None:
    experiment = ObjectState("experiment", "v2", {"deployment": "api", "challenger": "models:/fraud/2"})
    store.acquire_lock("fraud", "prod", owner="o1", by="alice")
    _release(store, "o1", [_svc("api"), experiment])
    assert {(o.kind, o.name) for o in store.list_objects("fraud", "prod")} == {
        ("service", "api"),
        ("experiment", "v2"),
    }


def test_sync_statuses_are_replaced_and_keep_their_wake_counter(store: DeliveryStore) -> None:
    from shipyard.metadata.delivery import SyncReport

    assert store.get_sync("fraud", "prod") is None and store.list_syncs() == []
    # a webhook before any loop ran: the row is made, unknown, woken once
    assert store.request_sync("fraud", "prod", by="github") == 1
    woken = store.get_sync("fraud", "prod")
    assert woken is not None and (woken.status, woken.wake) == ("unknown", 1) and woken.woken_at is not None
    drift = ({"action": "update", "kind": "service", "name": "api"},)
    report = SyncReport(
        status="out-of-sync",
        reason="1 object(s) differ from git",
        repo="https://git.example.com/fraud.git",
        branch="main",
        revision="b" * 40,
        synced_revision="b" * 40,
        release=3,
        running_commit="a" * 40,
        drift=drift,
        drifted=1,
    )
    said = store.record_sync("fraud", "prod", report, by="alice")
    assert (said.status, said.reason, said.revision, said.release, said.running_commit) == (
        "out-of-sync",
        "1 object(s) differ from git",
        "b" * 40,
        3,
        "a" * 40,
    )
    assert said.drift == [dict(d) for d in drift] and said.drifted == 1 and said.wake == 1
    assert said.checked_at is not None and said.branch == "main"
    assert store.request_sync("fraud", "prod", by="github") == 2
    synced = store.record_sync("fraud", "prod", SyncReport(status="synced", revision="c" * 40), by="alice")
    assert (synced.status, synced.reason, synced.drift, synced.wake) == ("synced", None, [], 2)
    store.record_sync("fraud", "dev", SyncReport(status="degraded", reason="spec error"), by="alice")
    counted = store.record_sync("fraud", "dev", SyncReport(status="out-of-sync", drift=drift), by="alice")
    assert counted.drifted == 1  # at least what it lists
    store.record_sync("aaa", "prod", SyncReport(status="synced"), by="alice")
    assert [(s.project, s.environment) for s in store.list_syncs()] == [
        ("aaa", "prod"),
        ("fraud", "dev"),
        ("fraud", "prod"),
    ]
    assert [s.environment for s in store.list_syncs("fraud")] == ["dev", "prod"]
    assert [s.environment for s in store.list_syncs("fraud", limit=1, offset=1)] == ["prod"]
    with pytest.raises(InvalidInputError):
        store.record_sync("fraud", "prod", SyncReport(status="fine"), by="alice")
    with pytest.raises(InvalidInputError):
        store.list_syncs(limit=-1)


def _applied(store: DeliveryStore, project: str, env: str) -> None:
    owner = f"o-{project}-{env}"
    store.acquire_lock(project, env, owner=owner, by="alice")
    begun = store.begin_release(project, env, ReleaseDraft(H, {}), owner=owner, by="alice", put=[_svc("api")])
    store.finish_release(project, env, begun.number, owner=owner, outcome="applied")


def test_environments_page_by_keyset(store: DeliveryStore) -> None:
    for project, env in [("b", "dev"), ("a", "staging"), ("fraud", "prod"), ("a", "prod")]:
        _applied(store, project, env)

    def keys(rows: list[EnvironmentState]) -> list[tuple[str, str]]:
        return [(e.project, e.environment) for e in rows]

    assert keys(store.list_environments()) == [
        ("a", "prod"),
        ("a", "staging"),
        ("b", "dev"),
        ("fraud", "prod"),
    ]
    assert keys(store.list_environments(after=("a", "staging"))) == [("b", "dev"), ("fraud", "prod")]
    assert keys(store.list_environments(limit=1, after=("a", "prod"))) == [("a", "staging")]
    assert keys(store.list_environments("a", after=("a", "prod"))) == [("a", "staging")]
    assert keys(store.list_environments(after=("a", "zzz"))) == [("b", "dev"), ("fraud", "prod")]
    assert store.list_environments(after=("fraud", "prod")) == []


def test_sync_statuses_page_by_keyset(store: DeliveryStore) -> None:
    from shipyard.metadata.delivery import SyncReport, SyncStatus

    for project, env in [("b", "dev"), ("a", "staging"), ("fraud", "prod"), ("a", "prod")]:
        store.record_sync(project, env, SyncReport(status="synced"), by="alice")

    def keys(rows: list[SyncStatus]) -> list[tuple[str, str]]:
        return [(s.project, s.environment) for s in rows]

    assert keys(store.list_syncs()) == [("a", "prod"), ("a", "staging"), ("b", "dev"), ("fraud", "prod")]
    assert keys(store.list_syncs(after=("a", "staging"))) == [("b", "dev"), ("fraud", "prod")]
    assert keys(store.list_syncs(limit=1, after=("a", "prod"))) == [("a", "staging")]
    assert keys(store.list_syncs(limit=1, offset=1, after=("a", "prod"))) == [("b", "dev")]
    assert keys(store.list_syncs("a", after=("a", "prod"))) == [("a", "staging")]
    assert keys(store.list_syncs("b", after=("a", "zzz"))) == [("b", "dev")]
    assert keys(store.list_syncs(after=("a", "zzz"))) == [("b", "dev"), ("fraud", "prod")]
    assert store.list_syncs(after=("fraud", "prod")) == []
