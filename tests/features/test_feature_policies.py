"""Data policies on feature views: get_historical_features, write_historical_features and
get_online_features apply the decision for ``settings.user`` when given the stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from shipyard.core.errors import PermissionDeniedError
from shipyard.core.settings import load_settings
from shipyard.features import Entity, FeatureStore, FeatureView, FileSource
from shipyard.metadata.policies import open_policy_store
from shipyard.security.data_policy import DataPolicy
from shipyard.tracking.stores import Stores, open_stores

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    opened = open_stores(load_settings(home=tmp_path / "home"))
    yield opened  # type: ignore[misc]
    opened.close()


def _store(tmp_path: Path, stores: Stores | None) -> FeatureStore:
    pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "ts": pd.Series([T0] * 3, dtype="datetime64[us, UTC]"),
            "region": ["EU", "US", "EU"],
            "card": ["4111111111111111", "5500000000000004", "340000000000009"],
            "amount": [10.0, 20.0, 30.0],
        }
    ).to_parquet(tmp_path / "tx.parquet")
    view = FeatureView(
        name="cust",
        entity=Entity("customer", ["customer_id"]),
        source=FileSource("tx.parquet"),
        timestamp="ts",
        features={"region": "string", "card": "string", "amount": "float64"},
    )
    return FeatureStore([view], root=tmp_path, online=f"sqlite:///{tmp_path / 'online.db'}", stores=stores)


def test_a_feature_view_policy_masks_filters_and_refuses(tmp_path: Path, stores: Stores) -> None:
    me = stores.settings.user
    open_policy_store(stores.metadata).create_policy(
        DataPolicy(
            "cust-eu",
            "feature_view",
            "cust",
            (f"user:{me}",),
            {"card": "mask:partial", "amount": "hide"},
            "region = 'EU'",
        )
    )
    entity = pd.DataFrame(
        {"customer_id": [1, 2, 3], "event_timestamp": pd.Series([T0] * 3, dtype="datetime64[us, UTC]")}
    )
    open_store = _store(tmp_path, None)  # without the stores: no policy applies
    assert list(open_store.get_historical_features(entity, ["cust:card"])["card"])[1] == "5500000000000004"
    store = _store(tmp_path, stores)
    got = store.get_historical_features(entity, ["cust:card", "cust:region"])
    assert list(got["customer_id"]) == [1, 2, 3]  # the caller's own entity rows stay
    card, region = got["card"].tolist(), got["region"].tolist()
    assert (card[0], card[2], region[0]) == ("***1111", "***0009", "EU")
    assert pd.isna(card[1]) and pd.isna(region[1])  # the US row's features are emptied
    with pytest.raises(PermissionDeniedError, match="amount"):
        store.get_historical_features(entity, ["cust:amount"])
    store.write_historical_features(entity, ["cust:card", "cust:region"], tmp_path / "out.parquet")
    written = pq.read_table(tmp_path / "out.parquet").column("card").to_pylist()
    assert written == ["***1111", None, "***0009"]
    store.materialize(end=datetime(2025, 1, 1, tzinfo=UTC))
    online = store.get_online_features([{"customer_id": 2}, {"customer_id": 3}], ["cust:card", "cust:region"])
    assert online["card"] == [None, "***0009"] and online["region"] == [None, "EU"]
    with pytest.raises(PermissionDeniedError, match="amount"):
        store.get_online_features([{"customer_id": 1}], ["cust:amount"])
    store.close()
    open_store.close()
