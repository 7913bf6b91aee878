"""Data policies on what a feature-serving deployment hands out: ``/predict`` answers never echo
the fetched feature values, and the prediction log's columns that came from a feature view carry
that view's policies for whoever reads the log (``read_prediction_log``), while monitoring (the
system) still computes its statistics over them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from shipyard.core.data_policies import DataPolicy
from shipyard.features import FeatureStore, FeatureView
from shipyard.features.online.sqlite import SqliteOnlineStore
from shipyard.metadata.policies import open_policy_store
from shipyard.monitoring.logs import read_log
from shipyard.serving import create_serving_app, read_prediction_log
from shipyard.serving.logpolicy import KEYS_KEY, SOURCES_KEY
from shipyard.tracking.stores import Stores
from tests.serving.conftest import FEATURES, Env, live
from tests.serving.test_features_serving import _config, _views, post

ENTITIES = [{"customer_id": 101, "merchant_id": "m2"}, {"customer_id": 102, "merchant_id": "m1"}]


@pytest.fixture
def served(env: Env, tmp_path: Path) -> Iterator[tuple[Path, dict[str, list[object]], list[str]]]:
    """A deployment by entity key that answered two requests; yields its log folder, the values it
    fetched and the /predict bodies. A policy on ``fs_merchant`` binds this process's user."""
    root = tmp_path / "views"
    root.mkdir()
    found: list[FeatureView] = [replace(v, name=f"{v.name}_{uuid.uuid4().hex[:6]}") for v in _views(root)]
    from datetime import UTC, datetime

    from shipyard.metadata.features import open_feature_records

    records = open_feature_records(env.stores.metadata)
    for view in found:
        records.apply_view(view.name, view.spec(), project=None, by="test", at=datetime.now(UTC))
    online = SqliteOnlineStore(root / "online.db")
    FeatureStore(found, root=root, online=online).materialize()
    customer, merchant = found[0].name, found[1].name
    fetched = FeatureStore(found, root=root, online=online).get_online_features(
        ENTITIES, [f"{customer}:{f}" for f in FEATURES[:10]] + [f"{merchant}:{f}" for f in FEATURES[10:]]
    )
    policies = open_policy_store(env.stores.metadata)
    name = f"merchant-{uuid.uuid4().hex[:8]}"
    policies.create_policy(
        DataPolicy(
            name, "feature_view", merchant, (f"user:{env.settings.user}",),
            {"f10": "hide", "f11": "mask:redact"},
        )
    )  # fmt: skip
    log = tmp_path / "log"
    try:
        config = _config(log, customer, merchant, log_flush_s=0.05)
        bodies = []
        with live(create_serving_app(config, stores=env.stores, online=online)) as url:
            for _ in range(2):
                answer = post(url, env, {"entities": ENTITIES})
                assert answer.status_code == 200, answer.text
                bodies.append(answer.text)
        yield log, fetched, bodies
    finally:
        policies.delete_policy(name)
        online.close()


Served = tuple[Path, dict[str, list[object]], list[str]]


def test_predict_answers_echo_no_fetched_feature_value(served: Served) -> None:
    _, fetched, bodies = served
    values = [v for column in FEATURES for v in fetched[column]]
    assert len(values) == 2 * len(FEATURES) and all(isinstance(v, float) for v in values)
    for body in bodies:
        answer = json.loads(body)
        assert set(answer) <= {"request_id", "model", "version", "predictions", "probabilities"}
        echoed = [v for v in values if repr(v) in body or json.dumps(v) in body]
        assert not echoed, f"/predict echoed fetched feature values: {echoed}"


def test_the_log_reader_applies_the_source_views_policies(
    env: Env, served: tuple[Path, dict[str, list[object]], list[str]]
) -> None:
    log, fetched, _ = served
    segment = next(log.glob("by-entity/*/*.parquet"))
    sources = json.loads(pq.read_schema(segment).metadata[SOURCES_KEY])
    assert sources["f10"][1] == "f10" and sources["f10"][0].startswith("fs_merchant")
    assert sources["f0"][0].startswith("fs_customer")

    got = read_prediction_log(str(log), "by-entity", stores=env.stores)
    assert isinstance(got, pd.DataFrame) and len(got) == 4
    assert "f10" not in got.columns  # hidden
    assert set(got["f11"]) == {"***"}  # masked
    first = got[got["request_id"] == got["request_id"].iloc[0]].sort_values("row")
    assert first["f12"].tolist() == fetched["f12"]  # not named by the policy: as fetched
    assert first["f0"].tolist() == fetched["f0"]  # another view: no policy

    # monitoring reads as the system: every column, for aggregate statistics only
    system = read_log(str(log), "by-entity")
    assert sorted(set(system.column("f10").to_pylist())) == sorted(set(fetched["f10"]))


def test_another_user_reads_the_log_unrestricted(
    env: Env, served: tuple[Path, dict[str, list[object]], list[str]], tmp_path: Path
) -> None:
    from shipyard.core.settings import load_settings
    from shipyard.tracking.stores import open_stores

    log, fetched, _ = served
    other_settings = load_settings(
        home=env.settings.home, uri=env.settings.uri, artifacts=env.settings.artifacts, user="other"
    )
    other: Stores = open_stores(other_settings)
    try:
        got = read_prediction_log(str(log), "by-entity", stores=other)
    finally:
        other.close()
    assert isinstance(got, pd.DataFrame)
    assert sorted(set(got["f10"])) == sorted(set(fetched["f10"]))
    assert sorted(set(got["f11"])) == sorted(set(fetched["f11"]))


def test_the_log_records_entity_keys_and_a_filter_on_them_applies(env: Env, served: Served) -> None:
    log, _, _ = served
    got = read_prediction_log(str(log), "by-entity", stores=env.stores)
    assert isinstance(got, pd.DataFrame)
    ordered = got.sort_values(["request_id", "row"])
    # the entities' join keys, row by row, so labels and monitors can join by entity
    assert ordered["customer_id"].tolist() == [101, 102] * 2
    assert ordered["merchant_id"].tolist() == ["m2", "m1"] * 2
    segment = next(log.glob("by-entity/*/*.parquet"))
    keyed = json.loads(pq.read_schema(segment).metadata[KEYS_KEY])
    assert (
        keyed["customer_id"][0][0].startswith("fs_customer") and keyed["customer_id"][0][1] == "customer_id"
    )

    # a row filter on a key of the merchant view: its features emptied in the rows it does not keep
    merchant = keyed["merchant_id"][0][0]
    policies = open_policy_store(env.stores.metadata)
    name = f"rows-{uuid.uuid4().hex[:8]}"
    policies.create_policy(
        DataPolicy(
            name, "feature_view", merchant, (f"user:{env.settings.user}",), row_filter="merchant_id = 'm2'"
        )
    )
    try:
        rows = read_prediction_log(str(log), "by-entity", stores=env.stores)
    finally:
        policies.delete_policy(name)
    assert isinstance(rows, pd.DataFrame)
    kept = rows[rows["merchant_id"] == "m2"]
    dropped = rows[rows["merchant_id"] == "m1"]
    assert len(kept) == 2 and len(dropped) == 2  # the keys stay: they are the requests'
    assert kept["f12"].notna().all() and dropped["f12"].isna().all()
    assert dropped["f0"].notna().all()  # the customer view's features: another view, no filter
