"""The feature store end to end from the CLI: apply (versioned, with a diff), list, show,
materialize (full, incremental), and online reads from the SDK."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shipyard.core.settings import load_settings
from shipyard.features import FeatureStore

DEFINITIONS = """
from shipyard.features import Entity, FileSource, FeatureView, feature_view

customer = Entity("customer", ["customer_id"])

@feature_view(entity=customer, source=FileSource("tx.parquet"), timestamp="ts", ttl="{ttl}",
              features={{"amount": "float64", "big": "bool"}})
def spending(frame):
    \"\"\"Per-customer spending.\"\"\"
    frame["big"] = frame["amount"] > 100
    return frame

merchant = FeatureView(
    name="merchant", entity=Entity("merchant", "merchant_id"), source=FileSource("m.csv"),
    timestamp="day", features={{"risk": "float64"}},
    sql="SELECT merchant_id, CAST(day AS TIMESTAMP) AS day, risk * 2 AS risk FROM source",
)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    pd.DataFrame(
        {
            "customer_id": [1, 1, 2],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02"], utc=True),
            "amount": [50.0, 500.0, 7.0],
        }
    ).to_parquet(tmp_path / "tx.parquet")
    pd.DataFrame({"merchant_id": ["m1"], "day": ["2024-01-01"], "risk": [0.25]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    (tmp_path / "features.py").write_text(textwrap.dedent(DEFINITIONS.format(ttl="30d")))
    return tmp_path


def test_apply_versions_views_and_prints_the_changes(cli: Any, project: Path) -> None:
    first = cli("features", "apply")
    assert first.code == 0, first.err
    assert "merchant: version 1" in first.out and "spending: version 1" in first.out
    again = cli("features", "apply")
    assert "spending: unchanged (version 1)" in again.out
    (project / "features.py").write_text(textwrap.dedent(DEFINITIONS.format(ttl="7d")))
    changed = cli("features", "apply", "features.py")
    assert "spending: version 2" in changed.out and "~ ttl: 30d -> 7d" in changed.out
    assert "merchant: unchanged" in changed.out
    listed = cli("features", "list", "--json").json()
    assert [(v["name"], v["version"]) for v in listed] == [("merchant", 1), ("spending", 2)]
    shown = cli("features", "show", "spending", "--version", "1", "--json").json()
    assert shown["ttl"] == "30d" and shown["features"] == {"amount": "float64", "big": "bool"}
    assert shown["description"] == "Per-customer spending."
    missing = cli("features", "show", "nope")
    assert missing.code != 0 and "feature view 'nope' does not exist" in missing.err


def test_materialize_then_read_online(cli: Any, project: Path) -> None:
    done = cli("features", "materialize", "--end", "2024-01-02T12:00")
    assert done.code == 0, done.err
    assert "spending: 2 entities written" in done.out
    store = FeatureStore.from_file(project / "features.py", online=load_settings().online_store_uri)
    rows = [{"customer_id": 1, "merchant_id": "m1"}, {"customer_id": 2, "merchant_id": "zz"}]
    features = ["spending:amount", "spending:big", "merchant:risk"]
    assert store.get_online_features(rows, features) == {
        "customer_id": [1, 2], "merchant_id": ["m1", "zz"],
        "amount": [50.0, 7.0], "big": [False, False], "risk": [0.5, None],
    }  # fmt: skip
    assert store.freshness("spending") == datetime(2024, 1, 2, 12, tzinfo=UTC)
    more = cli("features", "materialize", "--incremental", "--view", "spending")
    assert "spending: 1 entities written" in more.out  # only customer 1's newer row
    assert store.get_online_features([{"customer_id": 1}], ["spending:amount"])["amount"] == [500.0]
    store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["materialize", "--start", "yesterday"], "--start 'yesterday' is not a time"),
        (["materialize", "--incremental", "--start", "2024-01-01"], "not both"),
        (["materialize", "--view", "nope"], "feature view(s) nope do not exist"),
        (["apply", "missing.py"], "do not exist"),
    ],
)
def test_bad_input_is_one_line(cli: Any, project: Path, args: list[str], message: str) -> None:
    result = cli("features", *args)
    assert result.code != 0 and message in result.err
    assert "Traceback" not in result.err
