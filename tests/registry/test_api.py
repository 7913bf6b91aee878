"""log_model -> register -> load_model through the SDK, on real stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shipyard
from shipyard.core.errors import IntegrityError, InvalidInputError, NotFoundError, SerializationError
from shipyard.registry.api import load_model, log_model, register_model
from shipyard.registry.signature import SignatureError
from shipyard.tracking.stores import Stores
from tests.registry.models_for_tests import MeanModel


def test_log_register_load_sklearn(sdk: Stores, breast_cancer: Any, sk_pipeline: Any) -> None:
    X, _ = breast_cancer
    with shipyard.start_run(name="train") as run:
        info = log_model(sk_pipeline, "fraud", input_example=X.head(5), register=True, description="v1")
    assert info.version is not None and info.version.uri == "models:/fraud/1"
    assert info.artifact.meta["model_package"] is True and info.artifact.meta["flavor"] == "sklearn"
    assert info.version.package_digest == info.artifact.digest and info.version.run_id == run.id
    for uri in ("models:/fraud/1", "models:/fraud/latest", f"runs:/{run.id}/fraud"):
        model = load_model(uri)
        assert np.array_equal(model.predict(X), sk_pipeline.predict(X))
        assert np.allclose(model.predict_proba(X), sk_pipeline.predict_proba(X))
    loaded = load_model("models:/fraud/1")
    assert loaded.version == 1 and loaded.metadata["source"]["run_id"] == run.id
    with pytest.raises(SignatureError, match="unexpected column 'extra'"):
        loaded.predict(X.assign(extra=1))


def test_register_model_from_uri_and_alias(sdk: Stores, breast_cancer: Any, sk_pipeline: Any) -> None:
    X, _ = breast_cancer
    with shipyard.start_run() as run:
        log_model(sk_pipeline, "model", input_example=X.head(2))
    v1 = register_model(f"runs:/{run.id}/model", "fraud")
    v2 = register_model(f"{run.id}/model", "fraud")
    assert (v1.version, v2.version) == (1, 2)
    from shipyard.registry.api import get_registry

    reg = get_registry()
    reg.set_alias("fraud", "candidate", 2)
    assert load_model("models:/fraud@candidate").version == 2
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        load_model("models:/fraud@champion")


def test_register_bad_sources(sdk: Stores) -> None:
    with shipyard.start_run() as run:
        shipyard.log_artifact({"a": 1}, name="config")
    with pytest.raises(NotFoundError, match="not found"):
        register_model("runs:/" + "0" * 32 + "/model", "fraud")
    with pytest.raises(NotFoundError, match="no artifact 'model'"):
        register_model(f"runs:/{run.id}/model", "fraud")
    with pytest.raises(InvalidInputError, match="not a model package"):
        register_model(f"runs:/{run.id}/config", "fraud")
    for bad in ("../x", "a/b", "bad\x00name", "tab\tname"):
        with pytest.raises(InvalidInputError):
            register_model(f"runs:/{run.id}/config", bad)


def test_altered_package_bytes_are_refused(sdk: Stores, breast_cancer: Any, sk_pipeline: Any) -> None:
    X, _ = breast_cancer
    with shipyard.start_run():
        info = log_model(sk_pipeline, "fraud", input_example=X.head(2), register=True)
    root = Path(sdk.settings.artifact_root)
    blobs = [p for p in root.rglob("*") if p.is_file() and p.name == info.digest[2:]]
    assert blobs, "the package blob should be a file named by its digest"
    blob = blobs[0]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_model("models:/fraud/1")


def test_python_model_needs_allow_unsafe(sdk: Stores, breast_cancer: Any) -> None:
    X, _ = breast_cancer
    with shipyard.start_run():
        info = log_model(MeanModel(), "mean", input_example=X.head(2), register=True)
    assert info.artifact.unsafe is True and info.version is not None and info.version.unsafe
    with pytest.raises(SerializationError, match="allow_unsafe"):
        load_model("models:/mean/1")
    assert np.allclose(load_model("models:/mean/1", allow_unsafe=True).predict(X), X.mean(axis=1))


def test_log_model_needs_a_run(sdk: Stores, sk_pipeline: Any, breast_cancer: Any) -> None:
    with pytest.raises(InvalidInputError, match="active run"):
        log_model(sk_pipeline, "m", input_example=breast_cancer[0].head(1))


def _flavor_cases(X: Any, y: Any) -> dict[str, tuple[Any, Any, Any]]:
    """flavor -> (model, input example, full input) for the libraries installed here."""
    import importlib.util

    cases: dict[str, tuple[Any, Any, Any]] = {}
    if importlib.util.find_spec("xgboost"):
        import xgboost

        cases["xgboost"] = (xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y), X.head(3), X)
    if importlib.util.find_spec("lightgbm"):
        import lightgbm

        cases["lightgbm"] = (lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y), X.head(3), X)
    if importlib.util.find_spec("torch") and importlib.util.find_spec("safetensors"):
        from tests.registry.models_for_tests import make_torch_mlp

        arr = X.to_numpy(dtype="float32").copy()  # writable: torch.from_numpy warns otherwise
        cases["pytorch"] = (make_torch_mlp(arr.shape[1], 4), arr[:2], arr)
    return cases


@pytest.mark.parametrize("flavor", ["xgboost", "lightgbm", "pytorch"])
def test_log_register_load_other_flavors(sdk: Stores, breast_cancer: Any, flavor: str) -> None:
    X, y = breast_cancer
    cases = _flavor_cases(X, y)
    if flavor not in cases:
        pytest.skip(f"{flavor} is not installed")
    model, example, full = cases[flavor]
    with shipyard.start_run():
        info = shipyard.log_model(model, flavor, input_example=example, register=True)
    assert info.artifact.meta["flavor"] == flavor and info.artifact.unsafe is False
    trusted = ["tests.registry.torch_models:TinyMLP"] if flavor == "pytorch" else []  # a class of our own
    loaded = shipyard.load_model(f"models:/{flavor}/1", trusted=trusted)
    expected = model.predict(full) if flavor != "pytorch" else _torch_forward(model, full)
    assert np.allclose(loaded.predict(full), expected)


def _torch_forward(model: Any, data: Any) -> Any:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(data)).numpy()


def test_public_names_are_the_registry_functions() -> None:
    assert shipyard.log_model is log_model
    assert shipyard.load_model is load_model
    assert shipyard.register_model is register_model


def test_full_ram_disk_falls_back_to_the_temp_folder(
    sdk: Stores, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from shipyard.registry import service

    real = service.write_package
    seen: list[str] = []

    def fake(folder: Path, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(folder))
        if str(folder).startswith("/dev/shm"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(service, "write_package", fake)
    monkeypatch.setattr(service, "_scratch_dirs", lambda: ["/dev/shm", None])
    with shipyard.start_run():
        info = log_model(sk_pipeline, "fraud", input_example=breast_cancer[0].head(2), register=True)
    assert info.version is not None and len(seen) == 2 and not seen[1].startswith("/dev/shm")
