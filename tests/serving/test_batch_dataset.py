"""Batch inference over a dataset version (``datasets:/NAME@ALIAS``): streamed with the reader's
data policies, so ``--keep`` columns come out masked, a hidden one is refused, rows outside a row
filter are never scored, and a model input the reader may not see is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from shipyard.core.errors import PermissionDeniedError
from shipyard.data.service import DatasetService
from shipyard.metadata.policies import open_policy_store
from shipyard.security.data_policy import DataPolicy
from shipyard.serving import batch_predict
from tests.serving.conftest import FEATURES, Env, cli_env, make_data

ROWS = 3_000


def _dataset(env: Env, name: str, policy: dict[str, object]) -> DatasetService:
    frame, _ = make_data(ROWS, 11)
    frame.insert(0, "id", np.arange(ROWS, dtype="int64"))
    frame["email"] = [f"person-{i}@example.org" for i in range(ROWS)]
    frame["ssn"] = [f"ssn-{i:06d}" for i in range(ROWS)]
    service = DatasetService(env.stores)
    service.snapshot(name, frame, column_tags={"email": ["pii"]})
    service.set_alias(name, "today", 1)
    rule = DataPolicy(f"{name}-rule", "dataset", name, (f"user:{env.settings.user}",), **policy)  # type: ignore[arg-type]
    open_policy_store(env.stores.metadata).create_policy(rule)
    return service


def test_dataset_input_is_read_as_the_reader_may_see_it(env: Env, tmp_path: Path) -> None:
    rules = {"columns": {"email": "mask:redact", "ssn": "hide"}, "row_filter": "id < 1000"}
    _dataset(env, "scoring", rules)
    out = tmp_path / "out.parquet"
    result = batch_predict(
        "models:/fraud@champion",
        "datasets:/scoring@today",
        str(out),
        chunk_rows=400,
        stores=env.stores,
        keep=["id", "email"],
    )
    got = pq.read_table(out).to_pandas()
    assert result.rows == 1000 and got["id"].tolist() == list(range(1000))  # the row filter applied
    assert list(got.columns) == ["id", "email", "prediction", "model_version"]
    assert set(got["email"]) == {"***"}  # a kept masked column stays masked
    frame, _ = make_data(ROWS, 11)
    expected = env.models[1].predict(frame[FEATURES].head(1000))
    assert got["prediction"].tolist() == expected.tolist()
    assert not Path(str(out) + ".staging").exists()
    with pytest.raises(PermissionDeniedError, match="ssn"):
        batch_predict(
            "models:/fraud@champion", "datasets:/scoring/1", str(tmp_path / "o2.parquet"),
            stores=env.stores, keep=["id", "ssn"],
        )  # fmt: skip
    everything = tmp_path / "all.parquet"
    batch_predict("models:/fraud@champion", "datasets:/scoring/1", str(everything), stores=env.stores)
    columns = pq.read_schema(everything).names
    assert "ssn" not in columns and "email" in columns  # keep=all: what the reader sees, no more
    assert set(pq.read_table(everything, columns=["email"]).column(0).to_pylist()) == {"***"}


def test_a_model_input_hidden_or_masked_for_the_reader_is_refused(env: Env, tmp_path: Path) -> None:
    _dataset(env, "scoring-masked", {"columns": {FEATURES[0]: "mask:hash"}})
    with pytest.raises(PermissionDeniedError, match=f"model input column.*{FEATURES[0]}"):
        batch_predict(
            "models:/fraud@champion", "datasets:/scoring-masked/1", str(tmp_path / "o.parquet"),
            stores=env.stores, keep="none",
        )  # fmt: skip
    assert not (tmp_path / "o.parquet.staging").exists()


def test_the_cli_takes_a_dataset_and_says_what_is_refused(env: Env, tmp_path: Path) -> None:
    _dataset(env, "scoring-cli", {"columns": {"ssn": "hide"}})
    base = [
        sys.executable,
        "-m",
        "shipyard.cli.main",
        "batch",
        "fraud@champion",
        "datasets:/scoring-cli@today",
    ]
    ok = subprocess.run(
        [*base, str(tmp_path / "o.csv"), "--keep", "id", "-q"],
        env=cli_env(env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "o.csv").read_text().splitlines()[0].replace('"', "") == "id,prediction,model_version"
    refused = subprocess.run(
        [*base, str(tmp_path / "p.csv"), "--keep", "id,ssn", "-q"],
        env=cli_env(env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 1 and "ssn" in refused.stderr and "Traceback" not in refused.stderr
