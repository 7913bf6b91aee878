"""Loading a model package runs no code the platform did not choose (issue 12, hole 1).

Hostile packages are built by hand (tests/registry/hostile.py), registered as model versions and
loaded through every path that loads models: ``load_model``, the inference service's loader and
batch inference. Each payload would create a marker file if it ran; it must not exist afterwards,
and each load must fail with a one-line error that names what was refused.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import SerializationError
from shipyard.registry.api import load_model
from shipyard.registry.package import write_package
from shipyard.registry.predictor import load_from_folder
from shipyard.tracking.stores import Stores
from tests.registry import hostile


class _Payload:
    """Unpickling it runs ``code``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.code,))


def _base_folder(tmp_path: Path, breast_cancer: Any, sk_pipeline: Any) -> Path:
    folder = tmp_path / "pkg"
    write_package(folder, sk_pipeline, input_example=breast_cancer[0].head(3))
    return folder


def _via_load_model(stores: Stores, uri: str, trusted: list[str]) -> Any:
    return load_model(uri, stores=stores, trusted=trusted)


def _via_serving(stores: Stores, uri: str, trusted: list[str]) -> Any:
    from shipyard.serving.config import ServingConfig
    from shipyard.serving.models import load_variants

    return load_variants(stores, ServingConfig(uri, trusted=tuple(trusted), log_dir=None))


def _via_batch(stores: Stores, uri: str, trusted: list[str]) -> Any:
    from shipyard.serving import batch_predict

    folder = Path(str(stores.settings.home)) / "batch"
    folder.mkdir(exist_ok=True)
    source = folder / "in.parquet"
    pd.DataFrame({"x": [1.0]}).to_parquet(source)
    return batch_predict(uri, str(source), str(folder / "out.parquet"), stores=stores, trusted=trusted)


def _via_embedded_store(stores: Stores, uri: str, trusted: list[str]) -> Any:
    """load_model's fast path in a process that holds no stores (shipyard.registry.local_load)."""
    from shipyard.registry.local_load import load_local

    loaded = load_local(uri, trusted=trusted)
    assert loaded is not None, "the embedded store's path did not answer"
    return loaded


LOADERS: dict[str, Callable[[Stores, str, list[str]], Any]] = {
    "load_model": _via_load_model,
    "embedded-store": _via_embedded_store,
    "serving": _via_serving,
    "batch": _via_batch,
}


def _attacks(tmp_path: Path, marker: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (skops file, a name the refusal must mention)."""
    pickled = tmp_path / "payload.pkl"
    pickled.write_bytes(pickle.dumps(_Payload(hostile.write_marker_code(marker))))
    return {
        "exec-constructor": (hostile.exec_via_constructor(marker), "builtins.exec"),
        "exec-loss": (hostile.exec_via_loss(marker), "builtins.exec"),
        "exec-function-value": (hostile.exec_as_function_in_pipeline(), "builtins.exec"),
        "numpy-load-pickle": (hostile.numpy_load_of_pickle(pickled), "numpy.load"),
        "operator-methodcaller": (hostile.operator_methodcaller(), "operator.methodcaller"),
    }


ATTACKS = [
    "exec-constructor",
    "exec-loss",
    "exec-function-value",
    "numpy-load-pickle",
    "operator-methodcaller",
]


@pytest.mark.parametrize("path", sorted(LOADERS))
@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_skops_package_runs_nothing(
    stores: Stores, tmp_path: Path, breast_cancer: Any, sk_pipeline: Any, attack: str, path: str
) -> None:
    marker = tmp_path / "marker"
    skops_bytes, named = _attacks(tmp_path, marker)[attack]
    folder = hostile.package_files(
        _base_folder(tmp_path, breast_cancer, sk_pipeline), "model.skops", skops_bytes, "sklearn", {}
    )
    version = hostile.register_folder(stores, folder, "evil")
    with pytest.raises(SerializationError) as info:
        LOADERS[path](stores, version.uri, [])
    message = str(info.value)
    assert named in message and "\n" not in message
    assert not marker.exists(), f"the {attack} payload ran through {path}"
    # trusting the refused name does not help for names that run code or reach files
    with pytest.raises(SerializationError, match="never loads"):
        LOADERS[path](stores, version.uri, [named])
    assert not marker.exists()


def test_refusal_says_how_to_trust_a_class_of_ones_own(
    stores: Stores, tmp_path: Path, breast_cancer: Any
) -> None:
    from tests.registry.models_for_tests import make_shift_pipeline

    X, y = breast_cancer
    model = make_shift_pipeline(X, y)
    folder = tmp_path / "pkg"
    write_package(folder, model, input_example=X.head(3))
    version = hostile.register_folder(stores, folder, "custom")
    name = "tests.registry.sk_custom.ShiftTransformer"
    for path, loader in LOADERS.items():
        with pytest.raises(SerializationError) as info:
            loader(stores, version.uri, [])
        message = str(info.value)
        assert name in message and "trusted=[...]" in message and "--trust" in message, path
    loaded = load_model(version.uri, stores=stores, trusted=[name])
    assert np.array_equal(loaded.predict(X), model.predict(X))


def _ordinary_models(X: pd.DataFrame, y: Any) -> dict[str, tuple[Any, pd.DataFrame]]:
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_selection import SelectKBest
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    mixed = X.iloc[:, :5].copy()
    mixed["city"] = rng.choice(["oslo", "lima", "pune"], len(X))
    mixed["tier"] = pd.Categorical(rng.choice(["a", "b"], len(X)))
    mixed.iloc[::7, 0] = np.nan
    categorical = mixed.drop(columns="city")  # HistGradientBoosting takes category columns as they are
    numeric = list(mixed.columns[:5])
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_include=["str", "category"]),
            ),
        ]
    )
    return {
        "scaler+logistic": (make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y), X),
        "random-forest": (RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y), X),
        "hist-gradient-boosting": (
            HistGradientBoostingClassifier(max_iter=10).fit(categorical, y),
            categorical,
        ),
        "column-transformer": (make_pipeline(columns, LogisticRegression(max_iter=500)).fit(mixed, y), mixed),
        "log1p+select-k-best": (
            make_pipeline(
                FunctionTransformer(np.log1p), SelectKBest(k=5), LogisticRegression(max_iter=500)
            ).fit(X, y),
            X,
        ),
        "grid-search": (
            GridSearchCV(
                make_pipeline(StandardScaler(), LogisticRegression()),
                {"logisticregression__C": [0.1, 1]},
                cv=2,
                scoring="roc_auc",
            ).fit(X, y),
            X,
        ),
    }


def test_ordinary_packages_still_load(tmp_path: Path, breast_cancer: Any) -> None:
    X, y = breast_cancer
    for name, (model, data) in _ordinary_models(X, y).items():
        folder = tmp_path / name
        write_package(folder, model, input_example=data.head(3))
        loaded = load_from_folder(folder)
        assert np.array_equal(loaded.predict(data), model.predict(data)), name


def test_torch_module_is_checked_before_it_is_imported(
    stores: Stores, tmp_path: Path, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker"
    modules = tmp_path / "mods"
    modules.mkdir()
    (modules / "evil_torch_mod.py").write_text(hostile.write_marker_code(marker) + "\nclass Net: ...\n")
    monkeypatch.syspath_prepend(str(modules))
    folder = hostile.package_files(
        _base_folder(tmp_path, breast_cancer, sk_pipeline),
        "model.safetensors",
        b"not weights",
        "pytorch",
        {"class": "evil_torch_mod:Net", "init_kwargs": {}},
    )
    version = hostile.register_folder(stores, folder, "torchy")
    for path, loader in LOADERS.items():
        with pytest.raises(SerializationError, match=r"evil_torch_mod:Net.*--trust evil_torch_mod:Net"):
            loader(stores, version.uri, [])
        assert not marker.exists() and "evil_torch_mod" not in sys.modules, path


def test_xgboost_class_must_be_an_exact_xgboost_class(
    tmp_path: Path, breast_cancer: Any, sk_pipeline: Any
) -> None:
    folder = hostile.package_files(
        _base_folder(tmp_path, breast_cancer, sk_pipeline),
        "model.json",
        b"{}",
        "xgboost",
        {"class": "xgboost.tracker:RabitTracker"},  # an xgboost name that is no model class
    )
    with pytest.raises(SerializationError, match=r"xgboost\.tracker:RabitTracker"):
        load_from_folder(folder)


def test_cli_trust_flag(
    stores: Stores, tmp_path: Path, breast_cancer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli.main import main
    from tests.registry.models_for_tests import make_shift_pipeline

    X, y = breast_cancer
    folder = tmp_path / "pkg"
    write_package(folder, make_shift_pipeline(X, y), input_example=X.head(3))
    uri = hostile.register_folder(stores, folder, "custom").uri
    X.head(50).to_parquet(tmp_path / "in.parquet")
    args = ["batch", uri, str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), "--quiet"]
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert "tests.registry.sk_custom.ShiftTransformer" in err and "--trust" in err and "Traceback" not in err
    assert not (tmp_path / "out.parquet").exists()
    assert main([*args, "--trust", "tests.registry.sk_custom.ShiftTransformer"]) == 0
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 50


def test_serve_trust_reaches_every_worker() -> None:
    from shipyard.serving.config import ServingConfig
    from shipyard.serving.run import config_from_json, config_to_json

    config = ServingConfig("models:/custom/1", trusted=("pkg.mod.Shift", "pkg.nets:Net"))
    assert config_from_json(config_to_json(config)) == config
