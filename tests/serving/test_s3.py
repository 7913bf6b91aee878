"""Batch inference and the prediction log on S3 (moto's standalone server on loopback)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.serving import batch_predict, read_prediction_log
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.predlog import LogEntry, PredictionLogWriter
from tests.serving.conftest import FEATURES, Env, make_data

pytestmark = pytest.mark.s3


@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def bucket(endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    import boto3

    monkeypatch.setenv("SHIPYARD_S3_ENDPOINT_URL", endpoint)
    name = f"serving-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


def test_batch_from_s3_to_s3(env: Env, bucket: str, endpoint: str) -> None:
    import boto3

    frame, _ = make_data(5_000, 9)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buf)
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.put_object(Bucket=bucket, Key="in/data.parquet", Body=buf.getvalue())
    result = batch_predict(
        "models:/fraud@champion",
        f"s3://{bucket}/in/data.parquet",
        f"s3://{bucket}/out/scored.parquet",
        chunk_rows=2_000,
        stores=env.stores,
    )
    assert result.rows == 5_000 and result.chunks == 3
    body = s3.get_object(Bucket=bucket, Key="out/scored.parquet")["Body"].read()
    out = pq.read_table(io.BytesIO(body)).to_pandas()
    assert out["prediction"].tolist() == env.models[1].predict(frame[FEATURES]).tolist()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if "staging" in k], keys


def test_prediction_log_on_s3(bucket: str) -> None:
    writer = PredictionLogWriter(f"s3://{bucket}/predictions", "fraud", ServingMetrics(), flush_s=0.1)
    writer.start()
    now = datetime.now(UTC)
    for i in range(3):
        columns = {f: [float(i)] for f in FEATURES}
        writer.put(LogEntry(f"r{i}", now, "fraud", 1, "primary", 1.5, columns, [i % 2], [[0.5, 0.5]]))
    writer.close()
    table = read_prediction_log(f"s3://{bucket}/predictions", "fraud")
    assert isinstance(table, pd.DataFrame)
    assert table["request_id"].tolist() == ["r0", "r1", "r2"] and table["prediction"].tolist() == [0, 1, 0]
