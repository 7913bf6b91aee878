"""Point-in-time joins against a brute-force reference (hypothesis), and the join's edges."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.features import Entity, FeatureStore, FeatureView, FileSource

T0 = datetime(2024, 1, 1, tzinfo=UTC)
customer = Entity("customer", ["customer_id"])


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def write_source(folder: Path, rows: list[tuple[int, int, int, float]]) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([r[0] for r in rows], dtype="int64"),
            "ts": pd.Series([minutes(r[1]) for r in rows], dtype="datetime64[us, UTC]"),
            "created": pd.Series([minutes(r[2]) for r in rows], dtype="datetime64[us, UTC]"),
            "amount": pd.Series([r[3] for r in rows], dtype="float64"),
        }
    )
    frame.to_parquet(folder / "tx.parquet")


def brute_force(
    source: list[tuple[int, int, int, float]], entity: list[tuple[int, int]], ttl: int | None
) -> list[float | None]:
    out: list[float | None] = []
    for key, at in entity:
        hits = [r for r in source if r[0] == key and r[1] <= at and (ttl is None or at - r[1] <= ttl)]
        out.append(max(hits, key=lambda r: (r[1], r[2]))[3] if hits else None)
    return out


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[tuple[int, int, int, float]], list[tuple[int, int]], int | None]:
    n = draw(st.integers(0, 25))
    source = []
    used: set[tuple[int, int, int]] = set()
    for index in range(n):
        key, ts = draw(st.integers(0, 3)), draw(st.integers(0, 30))
        created = draw(st.integers(0, 40))  # late-arriving rows: created long after the event
        if (key, ts, created) in used:  # a full tie has no defined winner
            continue
        used.add((key, ts, created))
        source.append((key, ts, created, float(index)))
    entity = draw(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 35)), min_size=1, max_size=20))
    ttl = draw(st.one_of(st.none(), st.integers(1, 12)))
    return source, entity, ttl


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_matches_brute_force(tmp_path: Path, case: tuple[list, list, int | None]) -> None:
    source, entity, ttl = case
    write_source(tmp_path, source)
    view = FeatureView(
        name="cust",
        entity=customer,
        source=FileSource("tx.parquet"),
        timestamp="ts",
        created_timestamp="created",
        features={"amount": "float64"},
        ttl=None if ttl is None else timedelta(minutes=ttl),
    )
    rows = pd.DataFrame(
        {
            "customer_id": [e[0] for e in entity],
            "event_timestamp": pd.Series([minutes(e[1]) for e in entity], dtype="datetime64[us, UTC]"),
            "label": range(len(entity)),
        }
    )
    result = FeatureStore([view], root=tmp_path).get_historical_features(rows, ["cust:amount"])
    assert len(result) == len(rows)  # never a dropped or duplicated entity row
    assert list(result["label"]) == list(range(len(entity)))  # in the entity frame's order
    got = [None if math.isnan(v) else v for v in result["amount"]]
    assert got == brute_force(source, entity, ttl)


def two_views(tmp_path: Path) -> list[FeatureView]:
    pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02"], utc=True),
            "amount": [1.0, 2.0, 3.0],
        }
    ).to_parquet(tmp_path / "tx.parquet")
    pd.DataFrame(
        {
            "merchant_id": ["m1", "m2"],
            "day": pd.to_datetime(["2024-01-01", "2024-01-01"]),  # naive: taken as UTC
            "risk": [0.1, 0.9],
            "amount": [7.0, 8.0],
        }
    ).to_csv(tmp_path / "merchants.csv", index=False)
    return [
        FeatureView(
            name="cust", entity=customer, source=FileSource("tx.parquet"), timestamp="ts",
            features={"amount": "float64"},
        ),
        FeatureView(
            name="merchant", entity=Entity("merchant", "merchant_id"), source=FileSource("merchants.csv"),
            timestamp="day", features={"risk": "float64", "amount": "float64"}, ttl=timedelta(days=1),
        ),
    ]  # fmt: skip


def test_two_views_of_two_entities_and_full_names(tmp_path: Path) -> None:
    store = FeatureStore(two_views(tmp_path), root=tmp_path)
    rows = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "merchant_id": ["m2", "m1"],
            "event_timestamp": pd.to_datetime(["2024-01-01 12:00", "2024-01-03 00:00"], utc=True),
        }
    )
    with pytest.raises(InvalidInputError, match="full_feature_names=True"):
        store.get_historical_features(rows, ["cust:amount", "merchant:amount"])
    result = store.get_historical_features(rows, ["cust:amount", "merchant:amount", "merchant:risk"],
                                           full_feature_names=True)  # fmt: skip
    assert list(result["cust__amount"]) == [1.0, 3.0]
    assert list(result["merchant__risk"][:1]) == [0.9]
    assert math.isnan(result["merchant__risk"][1])  # 2 days after: past the 1-day TTL


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": ["cust:nope"]}, "feature 'nope' is not in view 'cust'"),
        ({"features": ["nope:amount"]}, "feature view 'nope' does not exist"),
        ({"features": ["cust.amount"]}, "is not 'view:feature'"),
        ({"drop": "customer_id"}, "lacks join key"),
        ({"drop": "event_timestamp"}, "no timestamp column 'event_timestamp'"),
        ({"ts_text": True}, "not timestamps"),
        ({"key_text": True}, "join key 'customer_id' is"),
    ],
)
def test_bad_requests_are_one_line_errors(tmp_path: Path, change: dict, message: str) -> None:
    store = FeatureStore(two_views(tmp_path), root=tmp_path)
    rows = pd.DataFrame({"customer_id": [1], "event_timestamp": pd.to_datetime(["2024-01-02"], utc=True)})
    if "drop" in change:
        rows = rows.drop(columns=[change["drop"]])
    if change.get("ts_text"):
        rows["event_timestamp"] = "2024-01-02"
    if change.get("key_text"):
        rows["customer_id"] = "1"
    with pytest.raises(InvalidInputError, match=message) as caught:
        store.get_historical_features(rows, change.get("features", ["cust:amount"]))
    assert "\n" not in str(caught.value)


def test_a_source_that_no_longer_matches_names_the_missing_column(tmp_path: Path) -> None:
    views = two_views(tmp_path)
    pd.DataFrame({"customer_id": [1], "ts": pd.to_datetime(["2024-01-01"], utc=True)}).to_parquet(
        tmp_path / "tx.parquet"
    )
    rows = pd.DataFrame({"customer_id": [1], "event_timestamp": pd.to_datetime(["2024-01-02"], utc=True)})
    with pytest.raises(InvalidInputError, match=r"no longer matches it: missing column\(s\) amount"):
        FeatureStore(views, root=tmp_path).get_historical_features(rows, ["cust:amount"])
    (tmp_path / "tx.parquet").unlink()
    with pytest.raises(NotFoundError, match="matches no file"):
        FeatureStore(views, root=tmp_path).get_historical_features(rows, ["cust:amount"])


@pytest.mark.parametrize("ttl", ["7x", "", "-1d", "d", 0, True])
def test_a_ttl_that_is_not_a_duration_is_refused(tmp_path: Path, ttl: object) -> None:
    with pytest.raises(InvalidInputError, match="ttl"):
        FeatureView(name="v", entity=customer, source=FileSource("x.parquet"), timestamp="ts",
                    features={"a": "float64"}, ttl=ttl)  # type: ignore[arg-type]  # fmt: skip


def test_durations_read_back() -> None:
    from shipyard.features.duration import format_duration, parse_duration

    for text, seconds in [("30d", 30 * 86400), ("1h30m", 5400), ("2w", 14 * 86400), ("90s", 90)]:
        assert parse_duration(text).total_seconds() == seconds
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_streamed_training_set_equals_the_in_memory_one(tmp_path: Path) -> None:
    store = FeatureStore(two_views(tmp_path), root=tmp_path)
    rows = pd.DataFrame(
        {"customer_id": [2, 1, 1] * 50, "event_timestamp": pd.to_datetime(["2024-01-05"] * 150, utc=True)}
    )
    written = store.write_historical_features(rows, ["cust:amount"], tmp_path / "train.parquet")
    assert written == 150
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "train.parquet"), store.get_historical_features(rows, ["cust:amount"])
    )
