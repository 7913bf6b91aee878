"""A feature view over a Postgres query (SqlSource): the rows come from the database, the join is
the same point-in-time join, and the spec never carries the URI's password."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from shipyard.features import Entity, FeatureStore, FeatureView
from shipyard.features.views import SqlSource
from tests.services import require_postgres


@pytest.fixture
def table() -> Iterator[tuple[str, str]]:
    import psycopg

    url = require_postgres().replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"tx_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (customer_id bigint, ts timestamptz, amount double precision)")
        conn.execute(
            f"INSERT INTO {name} VALUES (1, '2024-01-01T00:00Z', 1.0), (1, '2024-01-03T00:00Z', 2.0), "
            "(2, '2024-01-02T00:00Z', 3.0)"
        )
    try:
        yield url, name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {name}")


def test_a_postgres_query_feeds_the_point_in_time_join(table: tuple[str, str], tmp_path: Path) -> None:
    url, name = table
    view = FeatureView(
        name="spend", entity=Entity("customer", ["customer_id"]), timestamp="ts",
        source=SqlSource(f"SELECT customer_id, ts, amount FROM {name}", url),
        features={"amount": "float64"}, ttl=timedelta(days=2),
    )  # fmt: skip
    rows = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 2],
            "event_timestamp": pd.to_datetime(
                ["2024-01-02 00:00", "2024-01-03 12:00", "2024-01-02 00:00", "2024-01-05 00:00"], utc=True
            ),
        }
    )
    result = FeatureStore([view], root=tmp_path).get_historical_features(rows, ["spend:amount"])
    assert list(result["amount"][:3]) == [1.0, 2.0, 3.0]
    assert pd.isna(result["amount"][3])  # three days after customer 2's row: past the TTL


def test_the_spec_hides_the_password() -> None:
    source = SqlSource("SELECT 1", "postgresql://alice:s3cret@db:5432/x")
    assert "s3cret" not in str(source.spec()) and "alice:***@db" in source.spec()["uri"]
