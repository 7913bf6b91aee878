"""Materialization: the newest row per entity (ties on the event time go to the latest created
time), NaN stored as null, windows and increments, over both online stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from shipyard.features import Entity, FeatureStore, FeatureView, FileSource
from shipyard.features.online.redis import RedisOnlineStore
from shipyard.features.online.sqlite import SqliteOnlineStore
from tests.services import require_redis


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FeatureStore:
    pd.DataFrame(
        {
            "card": ["a", "a", "a", "b", "c"],
            "ts": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-01", "2024-01-05"], utc=True
            ),
            "created": pd.to_datetime(
                ["2024-01-01", "2024-01-03", "2024-01-09", "2024-01-01", "2024-01-05"], utc=True
            ),
            "spend": [1.0, 2.0, 3.0, float("nan"), 5.0],
            "n": [1, 2, 3, 4, 5],
        }
    ).to_parquet(tmp_path / "cards.parquet")
    view = FeatureView(
        name="cards", entity=Entity("card", "card"), source=FileSource("cards.parquet"), timestamp="ts",
        created_timestamp="created", features={"spend": "float64", "n": "int64"},
    )  # fmt: skip
    if request.param == "sqlite":
        online = SqliteOnlineStore(tmp_path / "online.db")
    else:
        online = RedisOnlineStore(require_redis(), prefix=f"shipyard-test-{uuid.uuid4().hex}")
    built = FeatureStore([view], root=tmp_path, online=online)
    yield built
    online.delete_view("cards")
    built.close()


def test_newest_row_per_entity_with_created_time_ties(store: FeatureStore) -> None:
    written = store.materialize(end=datetime(2024, 1, 3, tzinfo=UTC))
    assert written == {"cards": 2}  # card c's row is after the window
    got = store.get_online_features([{"card": "a"}, {"card": "b"}, {"card": "c"}], ["cards:spend", "cards:n"])
    assert got == {"card": ["a", "b", "c"], "spend": [3.0, None, None], "n": [3, 4, None]}
    assert store.freshness("cards") == datetime(2024, 1, 3, tzinfo=UTC)
    assert store.materialize(incremental=True, end=datetime(2024, 2, 1, tzinfo=UTC)) == {"cards": 1}
    assert store.get_online_features([{"card": "c"}], ["cards:n"])["n"] == [5]
    # an older window never replaces newer values
    store.materialize(start=datetime(2023, 12, 31, tzinfo=UTC), end=datetime(2024, 1, 1, 12, tzinfo=UTC))
    assert store.get_online_features([{"card": "a"}], ["cards:n"])["n"] == [3]


def test_bad_online_requests(store: FeatureStore) -> None:
    with pytest.raises(Exception, match="entity row 0 lacks join key"):
        store.get_online_features([{"id": "a"}], ["cards:n"])
    with pytest.raises(Exception, match="list of mappings"):
        store.get_online_features({"card": "a"}, ["cards:n"])  # type: ignore[arg-type]
    with pytest.raises(Exception, match="not before end"):
        store.materialize(start=datetime(2024, 2, 1, tzinfo=UTC), end=datetime(2024, 1, 1, tzinfo=UTC))


def test_materialize_reports_progress_per_view(store: FeatureStore) -> None:
    seen: list[tuple[str, int, int]] = []
    store.materialize(end=datetime(2024, 1, 3, tzinfo=UTC), progress=lambda *a: seen.append(a))
    assert seen == [("cards", 0, 1), ("", 1, 1)]
