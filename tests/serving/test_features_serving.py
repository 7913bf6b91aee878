"""Predictions by entity key: a deployment naming feature views reads each entity's features from
the online store (SQLite and Redis), predicts as on the same values sent as records, and logs the
fetched values as the request's inputs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.features import Entity, FeatureStore, FeatureView, FileSource
from shipyard.features.online.base import OnlineStore
from shipyard.features.online.redis import RedisOnlineStore
from shipyard.features.online.sqlite import SqliteOnlineStore
from shipyard.metadata.features import open_feature_records
from shipyard.serving import ServingConfig, create_serving_app, read_prediction_log
from tests.services import require_redis
from tests.serving.conftest import FEATURES, Env, auth, live

CUSTOMERS = [101, 102, 103]
MERCHANTS = ["m1", "m2"]


def _views(root: Path) -> list[FeatureView]:
    """``fs_customer`` (customer_id: f0..f9) and ``fs_merchant`` (merchant_id: f10..f19 and one
    extra feature the model does not take); customer 103's f3 is NaN (null online)."""
    rng = np.random.default_rng(5)
    ts = pd.Timestamp("2024-01-01", tz="UTC")
    customers = pd.DataFrame(rng.normal(size=(len(CUSTOMERS), 10)), columns=FEATURES[:10])
    customers.loc[2, "f3"] = float("nan")
    customers.insert(0, "customer_id", CUSTOMERS)
    customers["ts"] = ts
    customers.to_parquet(root / "customers.parquet")
    merchants = pd.DataFrame(rng.normal(size=(len(MERCHANTS), 10)), columns=FEATURES[10:])
    merchants.insert(0, "merchant_id", MERCHANTS)
    merchants["risk"] = ["low", "high"]
    merchants["ts"] = ts
    merchants.to_parquet(root / "merchants.parquet")
    return [
        FeatureView(
            name="fs_customer", entity=Entity("customer", "customer_id"),
            source=FileSource("customers.parquet"), timestamp="ts",
            features={f: "float64" for f in FEATURES[:10]},
        ),
        FeatureView(
            name="fs_merchant", entity=Entity("merchant", "merchant_id"),
            source=FileSource("merchants.parquet"), timestamp="ts",
            features={**{f: "float64" for f in FEATURES[10:]}, "risk": "string"},
        ),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def views(env: Env, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[FeatureView]]:
    root = tmp_path_factory.mktemp("feature-serving")
    found = _views(root)
    records = open_feature_records(env.stores.metadata)
    for view in found:
        records.apply_view(view.name, view.spec(), project=None, by="test", at=datetime.now(UTC))
    return root, found


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest, views: tuple[Path, list[FeatureView]]) -> Iterator[OnlineStore]:
    root, found = views
    store: OnlineStore
    if request.param == "sqlite":
        store = SqliteOnlineStore(root / f"online-{uuid.uuid4().hex}.db")
    else:
        store = RedisOnlineStore(require_redis(), prefix=f"shipyard-test-{uuid.uuid4().hex}")
    FeatureStore(found, root=root, online=store).materialize()
    yield store
    for view in found:
        store.delete_view(view.name)
    store.close()


def _config(log_dir: Path, *features: str, **kw: Any) -> ServingConfig:
    return ServingConfig(
        "models:/fraud@champion", log_dir=str(log_dir), deployment="by-entity", features=features, **kw
    )


def post(url: str, env: Env, body: Any) -> httpx.Response:
    return httpx.post(url + "/predict", json=body, headers=auth(env), timeout=30)


def test_prediction_by_entity_equals_prediction_on_the_fetched_records(
    env: Env, views: tuple[Path, list[FeatureView]], online: OnlineStore, tmp_path: Path
) -> None:
    root, found = views
    entities = [{"customer_id": 101, "merchant_id": "m2"}, {"customer_id": 102, "merchant_id": "m1"}]
    expected = FeatureStore(found, root=root, online=online).get_online_features(
        entities, [f"fs_customer:{f}" for f in FEATURES[:10]] + [f"fs_merchant:{f}" for f in FEATURES[10:]]
    )
    records = [{f: expected[f][i] for f in FEATURES} for i in range(len(entities))]
    config = _config(tmp_path / "log", "fs_customer", "fs_merchant")
    with live(create_serving_app(config, stores=env.stores, online=online)) as url:
        by_entity = post(url, env, {"entities": entities})
        by_record = post(url, env, records)
        ready = httpx.get(url + "/ready").json()
    assert by_entity.status_code == 200, by_entity.text
    assert by_entity.json()["predictions"] == by_record.json()["predictions"]
    assert by_entity.json()["probabilities"] == by_record.json()["probabilities"]
    model = env.models[1]
    assert by_entity.json()["predictions"] == model.predict(pd.DataFrame(records)).tolist()
    assert ready["feature_views"] == {"fs_customer": 1, "fs_merchant": 1}
    logged = read_prediction_log(str(tmp_path / "log"), "by-entity")
    assert isinstance(logged, pd.DataFrame)
    mine = logged[logged["request_id"] == by_entity.headers["x-request-id"]].sort_values("row")
    assert len(mine) == 2
    for column in FEATURES:
        assert mine[column].tolist() == expected[column]  # the fetched values are the logged inputs
    # the entity keys too (a join by entity); a request sent as records has none
    theirs = logged[logged["request_id"] == by_record.headers["x-request-id"]]
    assert mine["customer_id"].tolist() == [101, 102] and mine["merchant_id"].tolist() == ["m2", "m1"]
    assert theirs["customer_id"].isna().all() and theirs["merchant_id"].isna().all()


def test_entity_errors_name_the_entity_key_or_feature(
    env: Env, views: tuple[Path, list[FeatureView]], online: OnlineStore, tmp_path: Path
) -> None:
    config = _config(tmp_path / "log", "fs_customer", "fs_merchant", max_entities=3)
    with live(create_serving_app(config, stores=env.stores, online=online)) as url:
        unknown = post(url, env, {"entities": [{"customer_id": 101, "merchant_id": "m1"},
                                               {"customer_id": 999, "merchant_id": "m1"}]})  # fmt: skip
        as_string = post(url, env, {"entities": [{"customer_id": "101", "merchant_id": "m1"}]})
        integral = post(url, env, {"entities": [{"customer_id": 101.0, "merchant_id": "m1"}]})
        as_bool = post(url, env, {"entities": [{"customer_id": True, "merchant_id": "m1"}]})
        huge = post(url, env, {"entities": [{"customer_id": 2**70, "merchant_id": "m1"}]})
        null = post(url, env, {"entities": [{"customer_id": 103, "merchant_id": "m1"}]})
        missing_key = post(url, env, {"entities": [{"customer_id": 101}]})
        extra_key = post(url, env, {"entities": [{"customer_id": 101, "merchant_id": "m1", "x": 1}]})
        float_key = post(url, env, {"entities": [{"customer_id": 101.5, "merchant_id": "m1"}]})
        too_many = post(url, env, {"entities": [{"customer_id": 101, "merchant_id": "m1"}] * 4})
        empty = post(url, env, {"entities": []})
        doc = httpx.get(url + "/openapi.json", headers=auth(env)).json()
    assert unknown.status_code == 404
    assert "entity 1 (customer_id=999, merchant_id='m1')" in unknown.json()["error"]["message"]
    assert "'fs_customer'" in unknown.json()["error"]["message"]
    assert as_string.status_code == 404  # keys are typed: "101" is not 101
    assert integral.status_code == 200  # 101.0 is the integer 101 (JSON Schema's reading)
    assert as_bool.status_code == 422
    assert huge.status_code == 404 and "no online values in feature view 'fs_customer'" in huge.text
    assert null.status_code == 422
    assert "feature fs_customer:f3 has no value online" in null.json()["error"]["message"]
    assert missing_key.status_code == 422 and "missing join key 'merchant_id'" in missing_key.text
    assert extra_key.status_code == 422 and "unexpected join key 'x'" in extra_key.text
    assert float_key.status_code == 422 and "join key 'customer_id'" in float_key.text
    assert too_many.status_code == 422 and empty.status_code == 422
    forms = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/fraudEntitiesBody"} in forms["anyOf"]
    body = doc["components"]["schemas"]["fraudEntitiesBody"]
    assert body["properties"]["entities"]["maxItems"] == 3
    assert set(doc["components"]["schemas"]["fraudEntity"]["required"]) == {"customer_id", "merchant_id"}


def test_records_still_work_and_entities_need_features(env: Env, tmp_path: Path) -> None:
    config = ServingConfig("models:/fraud@champion", log_dir=None)
    with live(create_serving_app(config, stores=env.stores)) as url:
        answer = post(url, env, {"entities": [{"customer_id": 101}]})
    assert answer.status_code == 422 and "--features" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (("fs_nope",), "feature view 'fs_nope' is not in the feature registry"),
        (("fs_customer:zz",), "feature fs_customer:zz does not exist"),
        (("fs_customer",), "model input column 'f10' is given by none of the feature views"),
        (("fs_customer", "fs_customer_again"), "feature view 'fs_customer_again'"),
        (("bad:a:b",), "use VIEW or VIEW:FEATURE"),
    ],
)
def test_bad_feature_selections_fail_at_start_in_one_line(
    env: Env, views: tuple[Path, list[FeatureView]], tmp_path: Path, features: tuple[str, ...], message: str
) -> None:
    store = SqliteOnlineStore(tmp_path / "online.db")
    with pytest.raises(InvalidInputError, match=message) as caught:
        create_serving_app(_config(tmp_path, *features), stores=env.stores, online=store)
    assert "\n" not in str(caught.value)
    store.close()


def test_a_feature_of_two_views_and_a_wrong_type_fail_at_start(
    env: Env, views: tuple[Path, list[FeatureView]], tmp_path: Path
) -> None:
    records = open_feature_records(env.stores.metadata)
    twin = FeatureView(
        name="fs_twin", entity=Entity("customer", "customer_id"), source=FileSource("customers.parquet"),
        timestamp="ts", features={"f0": "float64"},
    )  # fmt: skip
    typed = FeatureView(
        name="fs_typed", entity=Entity("merchant", "merchant_id"), source=FileSource("merchants.parquet"),
        timestamp="ts", features={"f10": "string"},
    )  # fmt: skip
    for view in (twin, typed):
        records.apply_view(view.name, view.spec(), project=None, by="test", at=datetime.now(UTC))
    store = SqliteOnlineStore(tmp_path / "online.db")
    with pytest.raises(InvalidInputError, match="'f0' is a feature of views fs_customer and fs_twin"):
        create_serving_app(_config(tmp_path, "fs_customer", "fs_merchant", "fs_twin"), stores=env.stores,
                           online=store)  # fmt: skip
    # naming single features resolves it
    selection = (*(f"fs_customer:{f}" for f in FEATURES[1:10]), "fs_twin:f0", "fs_merchant")
    app = create_serving_app(_config(tmp_path, *selection), stores=env.stores, online=store)
    assert app.state.deployment.primary.name == "fraud"
    with pytest.raises(InvalidInputError, match="feature fs_typed:f10 is string, but the model's input"):
        create_serving_app(
            _config(tmp_path, "fs_customer", *(f"fs_merchant:{f}" for f in FEATURES[11:]), "fs_typed"),
            stores=env.stores, online=store,
        )  # fmt: skip
    store.close()


def test_serve_cli_names_a_missing_view_in_one_line(env: Env, views: tuple[Path, list[FeatureView]]) -> None:
    import subprocess
    import sys

    from tests.serving.conftest import cli_env

    command = [sys.executable, "-m", "shipyard.cli.main", "serve", "fraud@champion", "--no-auth",
               "--features", "fs_customer", "--features", "fs_nope"]  # fmt: skip
    done = subprocess.run(command, env=cli_env(env), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "feature view 'fs_nope' is not in the feature registry" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
