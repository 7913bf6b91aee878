"""Registered models may belong to a project, over every metadata backend (SQLite, Postgres, REST):
the project is set at creation (directly or by the first version) and never changes, and
``list_models(hidden_projects=...)`` leaves those projects' models out before paging."""

from __future__ import annotations

from shipyard.metadata import MetadataStore
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from tests.contract.metadata_helpers import T0


def _version(name: str, project: str | None = None) -> ModelVersionCreate:
    return ModelVersionCreate(
        model_name=name,
        package_digest="a" * 64,
        package_size=1,
        flavor="sklearn",
        created_by="alice",
        created_at=T0,
        project=project,
    )


def test_a_models_project_round_trips_and_never_changes(metadata_store: MetadataStore) -> None:
    registry = open_registry_store(metadata_store)
    made = registry.create_model("fraud-model", user="alice", at=T0, project="fraud")
    assert made.project == "fraud"
    assert registry.create_model("plain", user="alice", at=T0).project is None
    # the first version creates its model in the version's project ...
    assert registry.create_version(_version("churn-model", project="churn")).version == 1
    assert registry.get_model("churn-model").project == "churn"
    # ... a later version's project changes nothing
    registry.create_version(_version("churn-model", project="fraud"))
    registry.create_version(_version("plain", project="fraud"))
    found = {m.name: m.project for m in registry.list_models()}
    assert found == {"churn-model": "churn", "fraud-model": "fraud", "plain": None}
    assert registry.get_model("plain").project is None


def test_hidden_projects_are_left_out_of_the_list_before_paging(metadata_store: MetadataStore) -> None:
    registry = open_registry_store(metadata_store)
    for name, project in (("a", None), ("b", "secret"), ("c", "churn"), ("d", "secret"), ("e", None)):
        registry.create_model(name, user="alice", at=T0, project=project)
    assert [m.name for m in registry.list_models()] == ["a", "b", "c", "d", "e"]
    assert [m.name for m in registry.list_models(hidden_projects=["secret"])] == ["a", "c", "e"]
    assert [m.name for m in registry.list_models(hidden_projects=["secret"], limit=2, offset=1)] == ["c", "e"]
    assert [m.name for m in registry.list_models(hidden_projects=["secret", "churn"])] == ["a", "e"]
    assert [m.name for m in registry.list_models("b", hidden_projects=["churn"])] == ["b"]
