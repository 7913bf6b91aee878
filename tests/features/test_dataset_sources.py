"""Feature views over dataset versions (``DatasetSource``, read through ``shipyard.data``) and
training sets logged as dataset versions with their lineage to the views."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

import shipyard
from shipyard.core.errors import InvalidInputError
from shipyard.core.settings import load_settings
from shipyard.data.service import DatasetService
from shipyard.features import DatasetSource, Entity, FeatureStore, FeatureView, FileSource
from shipyard.features.online.sqlite import SqliteOnlineStore
from shipyard.features.training import training_set_lineage
from shipyard.metadata.features import open_feature_records
from shipyard.tracking import fluent
from shipyard.tracking.stores import Stores, open_stores

CUSTOMER = Entity("customer", "customer_id")


def _transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 3],
            "ts": pd.to_datetime(
                ["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-09", "2024-01-03"], utc=True
            ),
            "amount": [10.0, 20.0, 5.0, 7.0, 1.0],
        }
    )


def _entities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3, 4],
            "event_timestamp": pd.to_datetime(
                ["2024-01-02", "2024-01-06", "2024-01-08", "2024-01-03", "2024-01-10"], utc=True
            ),
        }
    )


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    settings = load_settings(home=tmp_path / "home", uri=f"sqlite:///{tmp_path / 'home' / 'db.sqlite'}")
    opened = open_stores(settings)
    fluent.set_stores(opened)
    yield opened
    fluent.reset()
    opened.close()


def _by_dataset(uri: str = "datasets:/tx@training") -> FeatureView:
    return FeatureView(
        name="spend", entity=CUSTOMER, source=DatasetSource(uri), timestamp="ts",
        features={"amount": "float64"},
    )  # fmt: skip


def test_a_dataset_source_reads_the_aliased_version(stores: Stores, tmp_path: Path) -> None:
    service = DatasetService(stores)
    first = shipyard.log_dataset("tx", _transactions(), stores=stores)
    shipyard.log_dataset("tx", _transactions().assign(amount=lambda f: f.amount * 100), stores=stores)
    service.set_alias("tx", "training", first.version)  # the alias, not the latest, is read
    _transactions().to_parquet(tmp_path / "tx.parquet")
    by_file = FeatureView(
        name="spend", entity=CUSTOMER, source=FileSource("tx.parquet"), timestamp="ts",
        features={"amount": "float64"},
    )  # fmt: skip
    expected = FeatureStore([by_file], root=tmp_path).get_historical_features(_entities(), ["spend:amount"])
    online = SqliteOnlineStore(tmp_path / "online.db")
    with FeatureStore([_by_dataset()], stores=stores, online=online) as store:
        got = store.get_historical_features(_entities(), ["spend:amount"])
        assert store.materialize(end=datetime(2024, 2, 1, tzinfo=UTC)) == {"spend": 3}
        online_values = store.get_online_features([{"customer_id": 2}], ["spend:amount"])
    pd.testing.assert_frame_equal(got, expected)
    assert got["amount"].tolist()[:4] == [10.0, 20.0, 5.0, 1.0]
    assert online_values["amount"] == [7.0]
    # inside a run, the version read is recorded as the run's input
    with shipyard.start_run() as run:
        FeatureStore([_by_dataset("datasets:/tx/2")], stores=stores).get_historical_features(
            _entities(), ["spend:amount"]
        )
    uses = service.run_datasets(run.id)
    assert [(u.dataset_name, u.version, u.direction) for u in uses] == [("tx", 2, "input")]


def test_a_dataset_source_without_stores_or_with_a_bad_uri_is_one_line(stores: Stores) -> None:
    with pytest.raises(InvalidInputError, match="open the feature store with stores"):
        FeatureStore([_by_dataset()]).get_historical_features(_entities(), ["spend:amount"])
    with pytest.raises(Exception, match="nope") as caught:
        FeatureStore([_by_dataset("datasets:/nope/1")], stores=stores).get_historical_features(
            _entities(), ["spend:amount"]
        )
    assert "\n" not in str(caught.value)


def test_a_training_set_is_a_dataset_version_with_lineage_to_the_views(stores: Stores) -> None:
    service = DatasetService(stores)
    tx = shipyard.log_dataset("tx", _transactions(), stores=stores)
    view = _by_dataset(tx.uri)
    store = FeatureStore([view], stores=stores)
    with pytest.raises(InvalidInputError, match="feature view 'spend' is not applied"):
        store.log_training_set("train", _entities(), ["spend:amount"])
    records = open_feature_records(stores.metadata)
    applied, _ = records.apply_view("spend", view.spec(), project=None, by="t", at=datetime.now(UTC))
    with shipyard.start_run() as run:
        version = store.log_training_set("train", _entities(), ["spend:amount"], description="week 1")
    loaded = shipyard.load_dataset(version.uri, stores=stores)
    pd.testing.assert_frame_equal(loaded, store.get_historical_features(_entities(), ["spend:amount"]))
    assert version.num_rows == 5 and version.run_id == run.id
    assert version.description.startswith("week 1\npoint-in-time training set of 1 feature view(s): spend v1")
    lineage = training_set_lineage(version)
    assert lineage is not None and lineage["features"] == ["spend:amount"]
    assert lineage["views"] == [
        {
            "name": "spend",
            "version": applied.version,
            "spec_sha256": applied.spec_hash,
            "source": {"kind": "dataset", "uri": tx.uri},
            "features": ["amount"],
        }
    ]
    uses = {(u.dataset_name, u.direction) for u in service.run_datasets(run.id)}
    assert uses == {("tx", "input"), ("train", "output")}
    # a view changed since it was applied: its lineage would name the wrong version
    changed = FeatureView(
        name="spend", entity=CUSTOMER, source=DatasetSource(tx.uri), timestamp="ts",
        features={"amount": "float64"}, ttl="7d",
    )  # fmt: skip
    with pytest.raises(InvalidInputError, match="differs from its applied version 1"):
        FeatureStore([changed], stores=stores).log_training_set("train", _entities(), ["spend:amount"])
