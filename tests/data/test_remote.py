"""Datasets through the team server (metadata and blobs over REST) and on S3 (moto)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import shipyard
from shipyard.core.clock import utcnow
from shipyard.core.errors import PermissionDeniedError
from shipyard.core.settings import load_settings
from shipyard.data.service import DatasetService
from shipyard.metadata.datasets import DatasetVersionCreate
from shipyard.metadata.rest.datasets import RestDatasetStore
from shipyard.tracking import fluent
from shipyard.tracking.stores import open_stores
from tests.server.access_helpers import make_user
from tests.server.live import LiveServer, live_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as s:
        yield s


def test_snapshot_load_and_lineage_through_the_server(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_URI", server.url)
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "client-home"))
    fluent.reset()
    try:
        frame = pd.DataFrame({"a": range(10), "b": list("abcdefghij")})
        with shipyard.start_run() as run:
            v = shipyard.log_dataset("tx", frame, column_tags={"b": ["pii"]})
        assert isinstance(DatasetService(fluent.get_stores()).store, RestDatasetStore)
        pd.testing.assert_frame_equal(shipyard.load_dataset("datasets:/tx/1"), frame)
        files = server.stores.metadata  # the server holds the records and the bytes
        from shipyard.metadata.datasets import open_dataset_store

        stored = open_dataset_store(files).list_files("tx", v.version)
        assert all(server.stores.artifacts.exists(f.digest) for f in stored)
        assert open_dataset_store(files).run_uses(run.id)[0].direction == "output"
        assert not (tmp_path / "client-home" / "artifacts").exists()
    finally:
        fluent.reset()


def test_a_viewer_may_read_but_not_write_datasets(server: LiveServer, tmp_path: Path) -> None:
    import httpx

    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as admin:
        token = make_user(admin, "vera", "viewer")
    admin_stores = open_stores(load_settings(uri=server.url, token=server.token, home=tmp_path / "a"))
    viewer_stores = open_stores(load_settings(uri=server.url, token=token, home=tmp_path / "v"))
    try:
        DatasetService(admin_stores).snapshot("tx", pd.DataFrame({"a": [1]}))
        admin_version = DatasetVersionCreate("tx", "table", "dataframe", (), "vera", utcnow())
        viewer = DatasetService(viewer_stores)
        assert len(viewer.load(viewer.resolve("tx"))) == 1
        with pytest.raises(PermissionDeniedError, match=r"lacks the (run|data):write permission"):
            viewer.snapshot("tx", pd.DataFrame({"a": [2]}))  # refused at the first blob or the version
        with pytest.raises(PermissionDeniedError, match="lacks the data:write permission"):
            viewer.store.create_version(admin_version)
        with pytest.raises(PermissionDeniedError, match="data:write"):
            viewer.set_alias("tx", "prod", 1)
    finally:
        admin_stores.close()
        viewer_stores.close()


@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def bucket(endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    import boto3

    monkeypatch.setenv("SHIPYARD_S3_ENDPOINT_URL", endpoint)
    name = f"data-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


@pytest.mark.s3
def test_datasets_on_s3_from_an_s3_prefix(bucket: str, endpoint: str, tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.put_object(Bucket=bucket, Key="raw/images/a.png", Body=b"png-a")
    s3.put_object(Bucket=bucket, Key="raw/images/sub/b.png", Body=b"png-b")
    settings = load_settings(home=tmp_path / "home", artifacts=f"s3://{bucket}/store")
    stores = open_stores(settings)
    try:
        service = DatasetService(stores)
        first = service.snapshot("images", f"s3://{bucket}/raw/images")
        assert (first.version.kind, first.version.num_files, first.written) == ("files", 2, 1)  # one pack
        assert service.snapshot("images", f"s3://{bucket}/raw/images").written == 0
        out = service.load(first.version, dest=tmp_path / "out")
        assert (out / "sub" / "b.png").read_bytes() == b"png-b"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="store/")["Contents"]]
        assert len(keys) == 1 and keys[0].startswith("store/blobs/sha256/")
    finally:
        stores.close()


def test_a_restricted_stream_through_the_server_is_read_as_it_arrives(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader a policy restricts streams the data route: batches come while the answer is read
    (the whole answer is never fetched into memory first), in pieces of the asked size."""
    import httpx

    from shipyard.metadata.rest.http import RestSession

    admin = open_stores(load_settings(uri=server.url, token=server.token, home=tmp_path / "admin"))
    rows = 150_000
    try:
        frame = pd.DataFrame({"id": range(rows), "email": [f"p{i}@x" for i in range(rows)]})
        DatasetService(admin).snapshot("big", frame, column_tags={"email": ["pii"]})
    finally:
        admin.close()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as http:
        token = make_user(http, "viewer1", "viewer")

    def whole(*_: object, **__: object) -> None:
        raise AssertionError("the data route was fetched whole")

    monkeypatch.setattr(RestSession, "fetch", whole)
    reader = open_stores(load_settings(uri=server.url, token=token, home=tmp_path / "viewer"))
    try:
        service = DatasetService(reader)
        version = service.resolve("big/1")
        sizes = []
        for batch in service.iter_batches(version, batch_size=20_000):
            assert batch.schema.names == ["id"]  # the pii column hidden by default
            sizes.append(batch.num_rows)
        assert sum(sizes) == rows and max(sizes) == 20_000
        table = service.load(version, output="arrow")
        assert table.num_rows == rows and table.column_names == ["id"]
        with pytest.raises(PermissionDeniedError, match="email"):
            list(service.iter_batches(version, columns=["id", "email"]))
    finally:
        reader.close()
