"""Every flavor: write a package to a folder, load it back, same predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from shipyard.core.errors import IntegrityError, InvalidInputError, SerializationError
from shipyard.registry.package import read_folder, read_manifest, write_package
from shipyard.registry.predictor import load_from_folder
from shipyard.registry.signature import SignatureError
from tests.registry.models_for_tests import MeanModel


def _roundtrip(tmp_path: Path, model: Any, example: Any, trusted: tuple[str, ...] = (), **kw: Any) -> Any:
    folder = tmp_path / "pkg"
    write_package(folder, model, input_example=example, **kw)
    return load_from_folder(folder, allow_unsafe=kw.pop("allow_unsafe", False), trusted=trusted)


def test_sklearn_pipeline_roundtrip(tmp_path: Path, breast_cancer: Any, sk_pipeline: Any) -> None:
    X, _ = breast_cancer
    loaded = _roundtrip(tmp_path, sk_pipeline, X.head(5))
    assert np.array_equal(loaded.predict(X), sk_pipeline.predict(X))
    assert np.allclose(loaded.predict_proba(X), sk_pipeline.predict_proba(X))
    meta = loaded.metadata
    assert meta["flavor"] == "sklearn" and meta["serializer"] == "skops" and meta["unsafe"] is False
    assert "scikit-learn" in meta["requirements"] and meta["python_version"]
    assert meta["signature"]["outputs"]["kind"] == "ndarray"
    with pytest.raises(SignatureError, match="missing column 'mean radius'"):
        loaded.predict(X.drop(columns=["mean radius"]))


def test_sklearn_array_model_gets_arrays(tmp_path: Path, breast_cancer: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    X, y = breast_cancer
    arr = X.to_numpy()
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(arr, y)
    loaded = _roundtrip(tmp_path, model, arr[:3])
    assert np.array_equal(loaded.predict(arr), model.predict(arr))
    assert loaded.signature.input_kind == "ndarray"


def test_python_flavor_is_unsafe_and_refused_by_default(tmp_path: Path, breast_cancer: Any) -> None:
    X, _ = breast_cancer
    folder = tmp_path / "pkg"
    manifest = write_package(folder, MeanModel(), input_example=X.head(3))
    assert manifest["unsafe"] is True and manifest["serializer"] == "cloudpickle"
    with pytest.raises(SerializationError, match="allow_unsafe=True"):
        load_from_folder(folder)
    loaded = load_from_folder(folder, allow_unsafe=True)
    assert np.allclose(loaded.predict(X), X.mean(axis=1).to_numpy())
    with pytest.raises(InvalidInputError, match="no predict_proba"):
        loaded.predict_proba(X)


def test_altered_file_is_refused(tmp_path: Path, breast_cancer: Any, sk_pipeline: Any) -> None:
    X, _ = breast_cancer
    folder = tmp_path / "pkg"
    write_package(folder, sk_pipeline, input_example=X.head(2))
    target = folder / "model.skops"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"model.skops was altered"):
        load_from_folder(folder)


def test_extra_file_and_bad_manifest_are_refused(
    tmp_path: Path, breast_cancer: Any, sk_pipeline: Any
) -> None:
    X, _ = breast_cancer
    folder = tmp_path / "pkg"
    write_package(folder, sk_pipeline, input_example=X.head(2))
    (folder / "evil.pkl").write_bytes(b"x")
    with pytest.raises(IntegrityError, match=r"evil\.pkl"):
        read_manifest(read_folder(folder))
    (folder / "evil.pkl").unlink()
    (folder / "model.yaml").write_text(yaml.safe_dump({"format": "other"}))
    with pytest.raises(SerializationError, match="not a model package"):
        read_manifest(read_folder(folder))


def test_needs_example_or_signature_and_a_predict(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="input_example"):
        write_package(tmp_path / "a", MeanModel())
    with pytest.raises(InvalidInputError, match="cannot save a object"):
        write_package(tmp_path / "b", object(), input_example={"a": [1]})


def test_xgboost_roundtrip(tmp_path: Path, breast_cancer: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = breast_cancer
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y)
    loaded = _roundtrip(tmp_path, model, X.head(5))
    assert loaded.metadata["flavor"] == "xgboost" and loaded.metadata["unsafe"] is False
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_lightgbm_roundtrip(tmp_path: Path, breast_cancer: Any) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = breast_cancer
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    loaded = _roundtrip(tmp_path, model, X.head(5))
    assert loaded.metadata["flavor"] == "lightgbm"
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_torch_roundtrip(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from tests.registry.models_for_tests import make_torch_mlp

    model = make_torch_mlp(4, 8)
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    with pytest.raises(SerializationError, match=r"trusted=\['tests\.registry\.torch_models:TinyMLP'\]"):
        _roundtrip(tmp_path, model, x[:2])  # a class of one's own must be trusted by name
    import shutil

    shutil.rmtree(tmp_path / "pkg")
    loaded = _roundtrip(tmp_path, model, x[:2], trusted=("tests.registry.torch_models:TinyMLP",))
    assert loaded.metadata["flavor"] == "pytorch" and loaded.metadata["serializer"] == "safetensors"
    assert loaded.metadata["flavor_options"]["class"] == "tests.registry.torch_models:TinyMLP"
    import torch

    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.allclose(loaded.predict(x), expected)
    with pytest.raises(SignatureError, match="3 columns but the model expects 4"):
        loaded.predict(x[:, :3])


def test_sklearn_types_outside_sklearn_need_trust(tmp_path: Path, breast_cancer: Any) -> None:
    from tests.registry.models_for_tests import make_shift_pipeline

    X, y = breast_cancer
    model = make_shift_pipeline(X, y)
    folder = tmp_path / "pkg"
    write_package(folder, model, input_example=X.head(3))
    with pytest.raises(SerializationError, match=r"tests\.registry\.sk_custom\.ShiftTransformer"):
        load_from_folder(folder)
    loaded = load_from_folder(folder, trusted=["tests.registry.sk_custom.ShiftTransformer"])
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_sklearn_forest_roundtrip(tmp_path: Path, breast_cancer: Any) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = breast_cancer
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    loaded = _roundtrip(tmp_path, model, X.head(3))
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_input_example_is_kept(tmp_path: Path, breast_cancer: Any, sk_pipeline: Any) -> None:
    from shipyard.registry.package import read_example

    X, _ = breast_cancer
    folder = tmp_path / "pkg"
    write_package(folder, sk_pipeline, input_example=X.head(30))
    example = read_example((folder / "input_example.json").read_bytes())
    assert list(example.columns) == list(X.columns) and len(example) == 20  # capped
    assert np.allclose(example.to_numpy(), X.head(20).to_numpy())
    arr_folder = tmp_path / "arr"
    from sklearn.tree import DecisionTreeClassifier

    arr = X.to_numpy()
    write_package(arr_folder, DecisionTreeClassifier().fit(arr, breast_cancer[1]), input_example=arr[:2])
    assert read_example((arr_folder / "input_example.json").read_bytes()).shape == (2, 30)


def test_missing_flavor_library_is_a_clear_error(
    tmp_path: Path, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from shipyard.core.errors import ConfigurationError

    X, _ = breast_cancer
    folder = tmp_path / "pkg"
    write_package(folder, sk_pipeline, input_example=X.head(2))
    monkeypatch.setitem(sys.modules, "skops.io", None)  # as if skops were not installed
    with pytest.raises(ConfigurationError, match=r"pip install scikit-learn==\S+ skops==\S+"):
        load_from_folder(folder, native=True)
    loaded = load_from_folder(folder)  # its compiled plan needs neither scikit-learn nor skops
    assert loaded.predict(X.head(2)).tolist() == sk_pipeline.predict(X.head(2)).tolist()
    with pytest.raises(ConfigurationError, match=r"pip install scikit-learn==\S+ skops==\S+"):
        _ = loaded.native


def test_model_yaml_is_yaml_and_block_style_is_read_too(
    tmp_path: Path, breast_cancer: Any, sk_pipeline: Any
) -> None:
    import hashlib

    X, _ = breast_cancer
    folder = tmp_path / "pkg"
    manifest = write_package(folder, sk_pipeline, input_example=X.head(2))
    assert yaml.safe_load((folder / "model.yaml").read_text()) == manifest
    (folder / "model.yaml").write_text(yaml.safe_dump(manifest))  # as a person might rewrite it
    files = read_folder(folder)
    assert read_manifest(files)["flavor"] == "sklearn"
    assert hashlib.sha256(files["model.skops"]).hexdigest() == manifest["files"]["model.skops"]
    (folder / "model.yaml").write_text("flavor: [unclosed")
    with pytest.raises(SerializationError, match="not valid YAML"):
        read_manifest(read_folder(folder))
