"""Loading a model package is bounded before anything is allocated (issue 12, hole 5): a tiny
package that declares gigabytes (a sparse tar member, a huge declared size, a skops schema that
compresses to nothing, a ``.npy`` header claiming billions of values) is refused quickly with a
clear error, through ``load_model``, the inference service's loader and batch inference."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shipyard.core.errors import ShipyardError
from shipyard.core.settings import load_settings
from shipyard.registry.package import write_package
from shipyard.tracking.stores import Stores, open_stores
from tests.registry import hostile
from tests.registry.test_load_safety import LOADERS

#: far below what the bombs declare (256 MiB and more); the blob read path alone holds 16 MiB buffers
_PEAK = 40 << 20


def _bounded(call: Callable[[], object]) -> tuple[ShipyardError, int, float]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        call()
    except ShipyardError as exc:
        error = exc
    else:  # pragma: no cover - reported by the caller's assertion
        raise AssertionError("the load did not fail")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak, time.perf_counter() - started


def _register_raw_package(stores: Stores, raw: bytes, name: str) -> str:
    """Register the bytes ``raw`` as a model package (a ``dir`` artifact) without unpacking them."""
    from shipyard.artifacts.store import StoredObject
    from shipyard.registry.service import PACKAGE_MARK, ModelRegistry
    from shipyard.tracking.client import TrackingClient

    run = TrackingClient(stores).create_run("bombs")
    stored = StoredObject(stores.artifacts.put_bytes(raw), len(raw), "dir", meta={"dirname": name})
    meta = {PACKAGE_MARK: True, "flavor": "sklearn", "package_format": "shipyard-model/1", "signature": {}}
    record = stores.metadata.record_artifact(stored.record(run.id, name, meta=meta))
    return ModelRegistry(stores).register_record(record, name).uri


@pytest.mark.parametrize("path", sorted(LOADERS))
@pytest.mark.parametrize(
    ("bomb", "message"),
    [("sparse", "sparse file 'model.skops'"), ("huge-declared", "declares more than 4.0 GiB")],
)
def test_package_tar_bombs_are_refused_before_reading(
    stores: Stores, bomb: str, message: str, path: str
) -> None:
    raw = (
        hostile.sparse_tar("model.skops", 256 << 20)
        if bomb == "sparse"
        else hostile.huge_member_tar("model.skops", 8 << 30)
    )
    uri = _register_raw_package(stores, raw, f"bomb-{bomb}")
    error, peak, seconds = _bounded(lambda: LOADERS[path](stores, uri, []))
    assert message in str(error) and "\n" not in str(error)
    assert peak < _PEAK and seconds < 5


def _skops_package(
    tmp_path: Path, breast_cancer: Any, sk_pipeline: Any, rewrite: Callable[[bytes], bytes]
) -> Path:
    folder = tmp_path / "pkg"
    write_package(folder, sk_pipeline, input_example=breast_cancer[0].head(3))
    data = (folder / "model.skops").read_bytes()
    return hostile.package_files(folder, "model.skops", rewrite(data), "sklearn", {})


def test_skops_declared_sizes_are_bounded_by_the_settings(
    tmp_path: Path, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_UNPACK_MAX_BYTES", str(32 << 20))
    stores = open_stores(load_settings())
    try:
        folder = _skops_package(
            tmp_path, breast_cancer, sk_pipeline, lambda d: hostile.rewrite_skops(d, schema_padding=64 << 20)
        )
        assert (folder / "model.skops").stat().st_size < 1 << 20
        uri = hostile.register_folder(stores, folder, "padded").uri
        for path, loader in LOADERS.items():
            error, peak, seconds = _bounded(lambda loader=loader: loader(stores, uri, []))  # type: ignore[misc]
            assert "declares more than 32.0 MiB" in str(error) and "SHIPYARD_UNPACK_MAX_BYTES" in str(
                error
            ), path
            assert peak < _PEAK and seconds < 5, path
    finally:
        stores.close()


def test_archives_inside_a_skops_file_share_its_budget(
    tmp_path: Path, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sparse matrix's entry is a zip (whatever its name) that scipy would inflate: its
    declared sizes count against the same limit."""
    monkeypatch.setenv("SHIPYARD_UNPACK_MAX_BYTES", str(32 << 20))
    stores = open_stores(load_settings())
    try:
        folder = _skops_package(
            tmp_path, breast_cancer, sk_pipeline, lambda d: hostile.sparse_matrix_with_inner_bomb(64 << 20)
        )
        assert (folder / "model.skops").stat().st_size < 1 << 20
        uri = hostile.register_folder(stores, folder, "nested").uri
        error, peak, seconds = _bounded(lambda: LOADERS["load_model"](stores, uri, []))
        assert "m.bin" in str(error) and "declares more than 32.0 MiB" in str(error)
        assert peak < _PEAK and seconds < 5
    finally:
        stores.close()


def test_npy_header_claiming_more_than_it_holds_is_refused(
    stores: Stores, tmp_path: Path, breast_cancer: Any, sk_pipeline: Any
) -> None:
    folder = _skops_package(
        tmp_path,
        breast_cancer,
        sk_pipeline,
        lambda d: hostile.rewrite_skops(d, big_array=hostile.first_array(d)),
    )
    uri = hostile.register_folder(stores, folder, "liar").uri
    for path, loader in LOADERS.items():
        error, peak, seconds = _bounded(lambda loader=loader: loader(stores, uri, []))  # type: ignore[misc]
        assert "declares an array of shape (2147483648,)" in str(error), path
        assert peak < _PEAK and seconds < 5, path


def test_skops_schema_nesting_is_bounded(tmp_path: Path, breast_cancer: Any, sk_pipeline: Any) -> None:
    from shipyard.core.errors import SerializationError
    from shipyard.registry.predictor import load_from_folder

    deep: dict[str, Any] = hostile.text(1)
    for _ in range(300):
        deep = hostile.node("ListNode", "builtins", "list", content=[deep])
    folder = _skops_package(tmp_path, breast_cancer, sk_pipeline, lambda d: hostile.skops_file(deep))
    with pytest.raises(SerializationError, match="nested more than 200 levels deep"):
        load_from_folder(folder)
