"""RegistryStore over SQLite and Postgres: versions, races, aliases, approval, tags, lineage."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest

from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.metadata.model_registry import LineageRecord, ModelVersionCreate, RegistryStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _create(name: str = "fraud", digest: str = "a" * 64, **kw: object) -> ModelVersionCreate:
    fields: dict[str, object] = {
        "model_name": name,
        "package_digest": digest,
        "package_size": 10,
        "flavor": "sklearn",
        "created_by": "alice",
        "created_at": T0,
        "run_id": "r1",
    }
    fields.update(kw)
    return ModelVersionCreate(**fields)  # type: ignore[arg-type]


def test_versions_are_numbered_per_model_and_never_reused(registry_store: RegistryStore) -> None:
    s = registry_store
    assert s.create_version(_create()).version == 1
    assert s.create_version(_create()).version == 2
    assert s.create_version(_create("other")).version == 1
    s.delete_version("fraud", 2)
    assert s.create_version(_create()).version == 3
    assert [v.version for v in s.list_versions("fraud")] == [1, 3]
    model = s.get_model("fraud")
    assert model.latest_version == 3 and model.protected_aliases == ("champion",)
    with pytest.raises(NotFoundError, match="has no version 2"):
        s.get_version("fraud", 2)
    with pytest.raises(NotFoundError, match="no registered model 'nope'"):
        s.get_version("nope", 1)


def test_create_model_twice_is_already_exists(registry_store: RegistryStore) -> None:
    registry_store.create_model("m", user="u", at=T0, description="d", tags={"team": "risk"})
    with pytest.raises(AlreadyExistsError):
        registry_store.create_model("m", user="u", at=T0)
    got = registry_store.get_model("m")
    assert got.description == "d" and got.tags == {"team": "risk"}
    registry_store.set_model_tags("m", {"team": "fraud", "tier": "1"}, T0)
    assert registry_store.get_model("m").tags == {"team": "fraud", "tier": "1"}
    assert [m.name for m in registry_store.list_models()] == ["m"]


def test_racing_registrations_get_distinct_numbers(registry_store: RegistryStore) -> None:
    n = 12
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def register() -> None:
        try:
            barrier.wait()
            results.append(registry_store.create_version(_create("race")).version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == list(range(1, n + 1))


def test_aliases_move_with_history_and_protection(registry_store: RegistryStore) -> None:
    s = registry_store
    for _ in range(3):
        s.create_version(_create())
    s.set_alias("fraud", "candidate", 1, user="alice", at=T0)
    s.set_alias("fraud", "candidate", 2, user="bob", at=T0)
    assert s.resolve_alias("fraud", "candidate").version == 2
    assert s.get_version("fraud", 2).aliases == ("candidate",)
    history = s.alias_history("fraud", "candidate")
    assert [(e.old_version, e.new_version, e.user) for e in history] == [(None, 1, "alice"), (1, 2, "bob")]
    with pytest.raises(ConflictError, match="must be approved first"):
        s.set_alias("fraud", "champion", 2, user="alice", at=T0)
    s.set_approval("fraud", 2, True, user="carol", at=T0)
    s.set_alias("fraud", "champion", 2, user="alice", at=T0)
    assert s.get_model("fraud").aliases == {"candidate": 2, "champion": 2}
    with pytest.raises(ConflictError, match="protected alias"):
        s.set_approval("fraud", 2, False, user="carol", at=T0)
    with pytest.raises(ConflictError, match="alias"):
        s.delete_version("fraud", 2)
    with pytest.raises(NotFoundError, match="no version 9"):
        s.set_alias("fraud", "candidate", 9, user="alice", at=T0)
    s.delete_alias("fraud", "champion", user="alice", at=T0)
    assert "champion" in s.get_model("fraud").protected_aliases  # the protection stays
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        s.resolve_alias("fraud", "champion")
    s.protect_alias("fraud", "candidate", True, user="alice", at=T0)
    assert set(s.get_model("fraud").protected_aliases) == {"candidate", "champion"}
    actions = [e.action for e in s.alias_history("fraud")]
    assert actions == ["set", "set", "set", "delete", "protect"]


def test_racing_alias_moves_leave_a_consistent_history(registry_store: RegistryStore) -> None:
    s = registry_store
    for _ in range(4):
        s.create_version(_create())
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def move(version: int) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                s.set_alias("fraud", "candidate", version, user=f"u{version}", at=T0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(v,)) for v in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    history = s.alias_history("fraud", "candidate")
    assert len(history) == 12
    for before, after in itertools.pairwise(history):
        assert after.old_version == before.new_version  # every move saw the previous one
    assert s.resolve_alias("fraud", "candidate").version == history[-1].new_version


def test_version_tags(registry_store: RegistryStore) -> None:
    s = registry_store
    s.create_version(_create(tags={"stage": "dev"}))
    assert s.set_version_tags("fraud", 1, {"stage": "qa", "owner": "risk"}).tags == {
        "stage": "qa",
        "owner": "risk",
    }
    assert s.delete_version_tag("fraud", 1, "owner").tags == {"stage": "qa"}
    with pytest.raises(NotFoundError, match="no tag 'owner'"):
        s.delete_version_tag("fraud", 1, "owner")


def test_lineage_queries(registry_store: RegistryStore) -> None:
    s = registry_store
    data = LineageRecord("art-data", "train_data", "d" * 64, "r1", "t0", "parquet", 2, "load")
    feats = LineageRecord("art-feats", "features", "f" * 64, "r1", "t1", "numpy", 1, "featurize")
    s.create_version(_create(lineage=(feats, data), run_id="r1", task_id="t2"))
    s.create_version(_create(lineage=(data,), run_id="r2"))
    s.create_version(_create("other", run_id="r3"))
    assert [r.name for r in s.version_lineage("fraud", 1)] == ["features", "train_data"]
    assert [v.version for v in s.versions_from_artifact(artifact_id="art-data")] == [1, 2]
    assert [v.version for v in s.versions_from_artifact(digest="f" * 64)] == [1]
    assert [(v.model_name, v.version) for v in s.versions_from_run("r3")] == [("other", 1)]


def test_rename_keeps_everything_but_the_name(registry_store: RegistryStore) -> None:
    s = registry_store
    feats = LineageRecord("art-feats", "features", "f" * 64, "r1", "t1", "numpy", 1, "featurize")
    s.create_model("fraud", user="alice", at=T0, description="d", tags={"team": "risk"}, project=None)
    s.create_version(_create(lineage=(feats,), tags={"stage": "dev"}))
    s.create_version(_create())
    s.set_approval("fraud", 2, True, user="bob", at=T0)
    s.set_alias("fraud", "champion", 2, user="bob", at=T0)
    s.set_alias("fraud", "candidate", 1, user="bob", at=T0)
    s.create_version(_create("fraud-x"))
    with pytest.raises(AlreadyExistsError, match="'fraud-x'"):
        s.rename_model("fraud", "Fraud_X", at=T0)  # a look-alike of another model
    later = datetime(2026, 2, 1, tzinfo=UTC)
    got = s.rename_model("fraud", "scam", at=later)
    assert (got.name, got.description, got.tags, got.created_by) == ("scam", "d", {"team": "risk"}, "alice")
    assert got.aliases == {"candidate": 1, "champion": 2} and got.protected_aliases == ("champion",)
    assert got.latest_version == 2 and got.updated_at == later
    versions = s.list_versions("scam")
    assert [(v.version, v.tags, v.approved) for v in versions] == [
        (1, {"stage": "dev"}, False),
        (2, {}, True),
    ]
    assert [r.name for r in s.version_lineage("scam", 1)] == ["features"]
    assert [(v.model_name, v.version) for v in s.versions_from_artifact(artifact_id="art-feats")] == [
        ("scam", 1)
    ]
    assert [e.new_version for e in s.alias_history("scam", "candidate")] == [1]
    assert s.resolve_alias("scam", "champion").version == 2
    with pytest.raises(NotFoundError):
        s.get_model("fraud")
    assert s.create_version(_create("scam")).version == 3  # the counter moved along
    assert s.rename_model("scam", "SCAM", at=T0).name == "SCAM"  # only the case changes
    with pytest.raises(NotFoundError):
        s.rename_model("fraud", "anything", at=T0)


def test_delete_model_tag(registry_store: RegistryStore) -> None:
    s = registry_store
    s.create_model("m", user="u", at=T0, tags={"team": "risk", "tier": "1"})
    later = datetime(2026, 2, 1, tzinfo=UTC)
    s.delete_model_tag("m", "team", later)
    got = s.get_model("m")
    assert got.tags == {"tier": "1"} and got.updated_at == later
    with pytest.raises(NotFoundError, match="no tag 'team'"):
        s.delete_model_tag("m", "team", T0)
    with pytest.raises(NotFoundError):
        s.delete_model_tag("nope", "tier", T0)


def test_delete_model_removes_everything(registry_store: RegistryStore) -> None:
    s = registry_store
    s.create_version(_create(tags={"a": "b"}))
    s.set_alias("fraud", "candidate", 1, user="u", at=T0)
    s.delete_model("fraud")
    with pytest.raises(NotFoundError):
        s.get_model("fraud")
    assert s.create_version(_create()).version == 1


def test_racing_registrations_across_processes(metadata_uri: str, registry_store: RegistryStore) -> None:
    import multiprocessing

    from tests.registry.race_worker import register_versions

    registry_store.create_model("procs", user="u", at=T0)  # schema exists before the race
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = pool.starmap(register_versions, [(metadata_uri, "procs", 4)] * 3)
    numbers = sorted(n for chunk in results for n in chunk)
    assert numbers == list(range(1, 13))
    assert [v.version for v in registry_store.list_versions("procs")] == list(range(1, 13))


def test_one_version_reads_back_as_in_the_list(registry_store: RegistryStore) -> None:
    """get_version and resolve_alias (the load path's compiled lookup) return exactly what the
    general listing returns: every field, its type, tags, aliases, approval and the signature."""
    s = registry_store
    signature = {"inputs": [{"name": "x", "type": "float64"}], "input_kind": "dataframe", "outputs": []}
    s.create_version(_create(signature=signature, tags={"stage": "qa"}, description="first"))
    s.create_version(_create(digest="b" * 64, unsafe=True))
    s.set_approval("fraud", 1, True, user="bob", at=T0)
    s.set_alias("fraud", "champion", 1, user="bob", at=T0)
    s.set_alias("fraud", "backup", 1, user="bob", at=T0)
    s.set_alias("fraud", "candidate", 2, user="bob", at=T0)
    listed = {v.version: v for v in s.list_versions("fraud")}
    one = s.get_version("fraud", 1)
    assert one == listed[1] and s.get_version("fraud", 2) == listed[2]
    assert one.aliases == ("backup", "champion") and one.tags == {"stage": "qa"}
    assert one.approved and one.approved_at == T0 and one.approved_by == "bob"
    assert one.signature == signature and one.created_at == T0 and one.created_at.tzinfo is not None
    assert listed[2].unsafe and not listed[2].approved and listed[2].approved_at is None
    assert s.resolve_alias("fraud", "candidate") == listed[2]
    with pytest.raises(NotFoundError, match="has no alias 'nope'; its aliases: backup, candidate, champion"):
        s.resolve_alias("fraud", "nope")
    with pytest.raises(NotFoundError, match="no registered model 'ghost'"):
        s.resolve_alias("ghost", "champion")


# ---- look-alike names (issue 12, hole 7) -------------------------------------------------------------


@pytest.mark.parametrize("lookalike", ["Fraud", "FRAUD", "fraud_", "fraud-", "FrAuD"])
def test_a_look_alike_model_name_is_refused_naming_the_existing_model(
    registry_store: RegistryStore, lookalike: str
) -> None:
    s = registry_store
    s.create_version(_create("fraud"))
    with pytest.raises(AlreadyExistsError) as info:
        s.create_model(lookalike, user="mallory", at=T0)
    message = str(info.value)
    assert f"model {lookalike!r} looks like the existing model 'fraud'" in message
    assert "use that name or pick one that differs by more than case" in message
    with pytest.raises(AlreadyExistsError, match="looks like the existing model 'fraud'"):
        s.create_version(_create(lookalike))  # registering a version does not create it either
    assert [m.name for m in s.list_models()] == ["fraud"]
    assert [v.version for v in s.list_versions("fraud")] == [1]
    assert s.create_version(_create("fraud")).version == 2  # the real name still works


def test_lookups_stay_exact_and_suggest_the_look_alike(registry_store: RegistryStore) -> None:
    s = registry_store
    s.create_version(_create("fraud-detector"))
    for lookup in (lambda: s.get_model("Fraud_Detector"), lambda: s.get_version("Fraud_Detector", 1)):
        with pytest.raises(NotFoundError) as info:
            lookup()
        assert "no registered model 'Fraud_Detector'" in str(info.value)
        assert "did you mean 'fraud-detector'?" in str(info.value)
    with pytest.raises(NotFoundError) as missing:
        s.get_model("ghost")
    assert "did you mean" not in str(missing.value)


def test_a_look_alike_alias_is_refused_per_model(registry_store: RegistryStore) -> None:
    s = registry_store
    s.create_version(_create("fraud"))
    s.create_version(_create("other"))
    s.set_approval("fraud", 1, True, user="carol", at=T0)
    s.set_alias("fraud", "candidate", 1, user="alice", at=T0)
    # the protected default alias: 'Champion' would read as the champion but skip its approval rule
    with pytest.raises(AlreadyExistsError) as info:
        s.set_alias("fraud", "Champion", 1, user="mallory", at=T0)
    assert "alias 'Champion' of model 'fraud' looks like its existing alias 'champion'" in str(info.value)
    for alias in ("Candidate", "candidate_", "CANDIDATE"):
        with pytest.raises(AlreadyExistsError, match="looks like its existing alias 'candidate'"):
            s.set_alias("fraud", alias, 1, user="mallory", at=T0)
        with pytest.raises(AlreadyExistsError, match="looks like its existing alias 'candidate'"):
            s.protect_alias("fraud", alias, True, user="mallory", at=T0)
    assert s.get_model("fraud").aliases == {"candidate": 1}
    assert s.get_model("fraud").protected_aliases == ("champion",)
    s.set_alias("other", "Candidate", 1, user="alice", at=T0)  # another model's aliases are its own
    s.set_alias("fraud", "candidate", 1, user="alice", at=T0)  # moving the alias itself still works
    with pytest.raises(NotFoundError, match="did you mean 'candidate'"):
        s.resolve_alias("fraud", "Candidate")
    s.delete_alias("fraud", "candidate", user="alice", at=T0)  # a deleted alias frees its name
    s.set_alias("fraud", "Candidate", 1, user="alice", at=T0)
    assert s.get_model("fraud").aliases == {"Candidate": 1}


def test_new_names_are_checked_and_names_stored_before_the_rule_keep_working(
    metadata_uri: str, registry_store: RegistryStore
) -> None:
    from sqlalchemy import create_engine, text

    from shipyard.metadata.sql.engine import normalize_url

    s = registry_store
    with pytest.raises(InvalidInputError, match=r"ends with '\.'; use 'fraud'"):
        s.create_version(_create("fraud."))
    with pytest.raises(InvalidInputError, match="ends with whitespace"):
        s.create_model("fraud ", user="u", at=T0)
    s.create_version(_create("fraud"))
    with pytest.raises(InvalidInputError, match="alias"):
        s.set_alias("fraud", "Latest", 1, user="u", at=T0)
    assert [m.name for m in s.list_models()] == ["fraud"]  # nothing half-created
    engine = create_engine(normalize_url(metadata_uri))  # as an older shipyard could have stored it
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO registered_models (name, canonical, description, created_at, updated_at, "
                    "created_by, last_version) VALUES ('legacy.', 'legacy', '', 0, 0, 'u', 0)"
                )
            )
    finally:
        engine.dispose()
    assert s.create_version(_create("legacy.")).version == 1
    assert s.get_model("legacy.").latest_version == 1
    s.delete_model("legacy.")
    assert [m.name for m in s.list_models()] == ["fraud"]
