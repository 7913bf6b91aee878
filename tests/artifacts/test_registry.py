"""Choosing backends by URI scheme, and keeping heavy imports out of startup."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.artifacts.backends.local import LocalBackend
from shipyard.artifacts.registry import open_artifact_store, open_blob_backend
from shipyard.core.errors import ConfigurationError, InvalidInputError
from shipyard.core.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def test_plain_path_and_file_uri(tmp_path: Path) -> None:
    settings = load_settings()
    plain = open_blob_backend(str(tmp_path / "a"), settings)
    assert isinstance(plain, LocalBackend) and plain.root == tmp_path / "a"
    uri = open_blob_backend(f"file://{tmp_path}/b%20c", settings)
    assert isinstance(uri, LocalBackend) and uri.root == tmp_path / "b c"


def test_s3_uri_uses_endpoint_setting() -> None:
    from shipyard.artifacts.backends.s3 import S3Backend

    backend = open_blob_backend(
        "s3://my-bucket/team/artifacts/", load_settings(s3_endpoint_url="http://127.0.0.1:9")
    )
    assert isinstance(backend, S3Backend)
    assert (backend.bucket, backend.prefix, backend.endpoint_url) == (
        "my-bucket",
        "team/artifacts/",
        "http://127.0.0.1:9",
    )
    assert backend.location == "s3://my-bucket/team/artifacts"
    with pytest.raises(ConfigurationError, match="bucket"):
        open_blob_backend("s3:///nobucket", load_settings())


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"'gs'.*file://, s3://"):
        open_blob_backend("gs://bucket/x", load_settings())


def test_missing_boto3_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'shipyard\[s3\]'"):
        open_blob_backend("s3://bucket/prefix", load_settings())


def test_open_artifact_store_uses_settings(tmp_path: Path) -> None:
    store = open_artifact_store(load_settings(artifacts=str(tmp_path / "arts")))
    digest = store.put_bytes(b"x")
    assert (tmp_path / "arts" / "blobs" / "sha256" / digest[:2] / digest[2:]).read_bytes() == b"x"
    default = open_artifact_store(load_settings())
    assert isinstance(default.blobs, LocalBackend) and default.blobs.root.name == "artifacts"


def test_local_backend_rejects_traversal_keys(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    for key in ("../x", "/abs", "a//b", "a/./b", ".staging/x", "a\\b", ""):
        with pytest.raises(InvalidInputError):
            backend.write_bytes(key, b"x")


def test_import_store_stays_light() -> None:
    code = (
        "import sys, json, time; t = time.perf_counter(); import shipyard.artifacts.store, "
        "shipyard.artifacts.registry; t = time.perf_counter() - t; heavy = [m for m in "
        "('numpy', 'pandas', 'pyarrow', 'sklearn', 'skops', 'boto3', 'cloudpickle') if m in sys.modules]; "
        "print(json.dumps([heavy, t]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    heavy, _seconds = json.loads(out.stdout)
    assert heavy == []


def test_stored_meta_is_json(tmp_path: Path) -> None:
    import numpy as np

    store = open_artifact_store(load_settings(artifacts=str(tmp_path / "store")))
    (tmp_path / "tree").mkdir()
    values = (np.zeros((2, 3), dtype=[("a", "<i4"), ("b", "<f8")]), {"k": (1,)}, b"x", tmp_path / "tree")
    for value in values:
        json.dumps(store.put_object(value).meta)
