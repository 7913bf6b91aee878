"""The dataset store over every metadata backend (SQLite, Postgres, REST through a live server):
versions numbered race-free and never reused, files recorded atomically, aliases, uses, pages,
projects, and one-line not-found errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.metadata import MetadataStore
from shipyard.metadata.datasets import DatasetFile, DatasetUse, DatasetVersionCreate, open_dataset_store
from tests.contract.metadata_helpers import T0, make_run


def _create(name: str, n: int = 2, project: str | None = None, **kw: object) -> DatasetVersionCreate:
    files = tuple(DatasetFile(f"part-{i:05d}.parquet", f"{i:064x}", 100 + i, 10) for i in range(n))
    values: dict[str, object] = {
        "dataset_name": name,
        "kind": "table",
        "source_format": "dataframe",
        "files": files,
        "created_by": "alice",
        "created_at": T0,
        "num_rows": 10 * n,
        "columns": ({"name": "email", "type": "string", "tags": ["pii"]},),
        "stats": {"email": {"nulls": 0, "min": "a", "max": "z"}},
        "description": "d",
        "project": project,
    }
    values.update(kw)
    return DatasetVersionCreate(**values)  # type: ignore[arg-type]


def test_versions_round_trip_with_files_schema_tags_and_stats(metadata_store: MetadataStore) -> None:
    store = open_dataset_store(metadata_store)
    v1 = store.create_version(_create("tx", 3))
    assert (v1.version, v1.num_files, v1.size, v1.num_rows) == (1, 3, 303, 30)
    assert v1.columns[0]["tags"] == ["pii"] and v1.stats["email"]["max"] == "z"
    assert v1.uri == "datasets:/tx/1"
    assert [f.path for f in store.list_files("tx", 1)] == [f"part-{i:05d}.parquet" for i in range(3)]
    assert store.list_files("tx", 1, limit=1, offset=2)[0].digest == f"{2:064x}"
    assert store.get_version("tx", 1) == v1
    assert store.get_dataset("tx").latest_version == 1


def test_numbers_are_never_reused_and_aliases_guard_deletion(metadata_store: MetadataStore) -> None:
    store = open_dataset_store(metadata_store)
    for _ in range(3):
        store.create_version(_create("tx"))
    moved = store.set_alias("tx", "training", 2, user="alice", at=T0)
    assert moved.aliases == ("training",)
    assert store.resolve_alias("tx", "training").version == 2
    with pytest.raises(ConflictError, match="training"):
        store.delete_version("tx", 2)
    store.set_alias("tx", "training", 3, user="alice", at=T0)
    store.delete_version("tx", 2)
    assert [v.version for v in store.list_versions("tx")] == [1, 3]
    assert store.create_version(_create("tx")).version == 4
    assert store.get_dataset("tx").aliases == {"training": 3}
    store.delete_alias("tx", "training")
    with pytest.raises(NotFoundError, match="no alias 'training'"):
        store.resolve_alias("tx", "training")


def test_unknown_names_versions_and_lookalikes(metadata_store: MetadataStore) -> None:
    store = open_dataset_store(metadata_store)
    with pytest.raises(NotFoundError, match="no dataset 'ghost'"):
        store.get_dataset("ghost")
    store.create_version(_create("fraud-data"))
    with pytest.raises(NotFoundError, match="no version 9"):
        store.get_version("fraud-data", 9)
    with pytest.raises(AlreadyExistsError, match="looks like"):
        store.create_version(_create("Fraud_Data"))
    with pytest.raises(InvalidInputError):
        store.create_version(
            _create("dup", files=(DatasetFile("a", "0" * 64, 1), DatasetFile("a", "1" * 64, 1)))
        )
    assert [d.name for d in store.list_datasets()] == ["fraud-data"]


def test_lists_page_and_hide_projects(metadata_store: MetadataStore) -> None:
    store = open_dataset_store(metadata_store)
    for name, project in (("a", None), ("b", "secret"), ("c", "churn")):
        store.create_version(_create(name, project=project))
    assert store.get_dataset("b").project == "secret"
    assert [d.name for d in store.list_datasets(hidden_projects=["secret"])] == ["a", "c"]
    assert [d.name for d in store.list_datasets(limit=1, offset=1)] == ["b"]
    store.create_version(_create("a", project="churn"))  # a later version does not move it
    assert store.get_dataset("a").project is None


def test_uses_link_runs_and_versions_both_ways(metadata_store: MetadataStore) -> None:
    store = open_dataset_store(metadata_store)
    run = make_run(metadata_store)
    store.create_version(_create("tx"))
    store.create_version(_create("features"))
    store.record_use(DatasetUse("tx", 1, run.id, "input", T0))
    store.record_use(DatasetUse("tx", 1, run.id, "input", T0))  # recorded once
    store.record_use(DatasetUse("features", 1, run.id, "output", T0 + timedelta(seconds=1), None))
    assert [(u.dataset_name, u.direction) for u in store.run_uses(run.id)] == [
        ("features", "output"),
        ("tx", "input"),
    ]
    uses = store.version_uses("tx", 1)
    assert [(u.run_id, u.direction) for u in uses] == [(run.id, "input")]
    with pytest.raises(NotFoundError):
        store.record_use(DatasetUse("tx", 5, run.id, "input", T0))
